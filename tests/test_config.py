"""Every shipped config loads and builds (abstractly); the release 5B config has the published size."""

from __future__ import annotations

import subprocess
import sys

import pytest

from unityvideo_jax.config import available, get_config
from unityvideo_jax.model.dit.summary import parameter_counts

RELEASE_5B_PARAMETERS = 5_010_432_384  # the released checkpoint (facts file, tensor list)


@pytest.mark.parametrize("name", available())
def test_every_config_loads_and_builds(name):
    config = get_config(name)
    assert config.name == name
    counts = parameter_counts(config.model)
    assert counts["blocks"] > 0.5 * sum(counts.values()) or name.startswith("tiny")


@pytest.mark.parametrize("name", [n for n in available() if not n.startswith("demo")])  # the demo recipes
def test_every_config_name_says_its_flavour(name):
    flavour = {"adaln": "paper", "token": "release"}[get_config(name).model.switcher]
    assert name.endswith(f"_{flavour}"), f"{name} is {flavour} flavour"


def test_an_old_config_name_says_the_new_one():
    with pytest.raises(ValueError, match=r"'tiny' is now called 'tiny_paper'.*--config tiny_paper"):
        get_config("tiny")


def test_release_5b_has_exactly_the_published_parameter_count():
    counts = parameter_counts(get_config("wan22_ti2v_5b_release").model)
    assert sum(counts.values()) == RELEASE_5B_PARAMETERS


def test_configs_load_by_path_too():
    assert get_config("configs/tiny_release.py").model.switcher == "token"


def test_unknown_config_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown config 'nope': expected one of .*tiny"):
        get_config("nope")


def test_info_cli_prints_parts_and_total():
    out = subprocess.run(
        [sys.executable, "-m", "unityvideo_jax.cli", "info", "--config", "wan22_ti2v_5b_release"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "5,010,432,384" in out and "aux input linear" in out and "9,440,256" in out


def test_cli_user_error_exits_2_with_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "unityvideo_jax.cli", "info", "--config", "nope"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown config" in proc.stderr
