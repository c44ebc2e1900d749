"""Loading configs by name or path, and checking a config against a mesh."""

from __future__ import annotations

import importlib
import importlib.util
import pathlib

import ml_collections

CONFIG_PACKAGE = "unityvideo_jax.configs"
NOT_CONFIGS = {"__init__", "base"}
# Names before every config said its flavour (paper or release); kept so an old command says what to type.
RENAMED = {"tiny": "tiny_paper", "wan21_1p3b": "wan21_1p3b_release", "wan21_14b": "wan21_14b_release"}


def available() -> list[str]:
    """Names of the configs shipped in configs/."""
    package = importlib.import_module(CONFIG_PACKAGE)
    folder = pathlib.Path(package.__file__).parent
    return sorted(p.stem for p in folder.glob("*.py") if p.stem not in NOT_CONFIGS)


def get_config(name: str) -> ml_collections.ConfigDict:
    """The config called `name` (e.g. "tiny_paper") or the one in a file (e.g. "configs/tiny_paper.py")."""
    if name.endswith(".py") or "/" in name:
        path = pathlib.Path(name)
        if not path.is_file():
            raise ValueError(f"config file {name} does not exist; known configs: {', '.join(available())}")
        spec = importlib.util.spec_from_file_location(f"_config_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        if name in RENAMED:
            raise ValueError(f"config {name!r} is now called {RENAMED[name]!r} (names say their flavour): use --config {RENAMED[name]}")
        if name not in available():
            raise ValueError(f"unknown config {name!r}: expected one of {', '.join(available())}")
        module = importlib.import_module(f"{CONFIG_PACKAGE}.{name}")
    return module.get_config()


def with_defaults(saved) -> ml_collections.ConfigDict:
    """A config saved by an older version, completed with today's defaults for keys it lacks."""
    from unityvideo_jax.configs.base import get_base_config

    config = get_base_config()

    def merge(into, values):
        for key, value in values.items():
            if isinstance(value, (dict, ml_collections.ConfigDict)) and isinstance(into.get(key), ml_collections.ConfigDict):
                merge(into[key], value)
            else:
                into[key] = tuple(value) if isinstance(value, list) else value

    with config.unlocked():
        merge(config, saved)
    return config
