#!/usr/bin/env bash
# TPU VM / pod launcher for unityvideo_jax: create, setup, train, status, ssh, delete.
# Every gcloud call is printed (one copy-pastable line on stdout) before it runs; --dry-run only
# prints. Written for bash 3.2+ (macOS laptops): no associative arrays, guarded empty arrays.
set -euo pipefail

PROG=$(basename "$0")
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
SUBCOMMANDS="create setup train status ssh delete"

# Where things live on every worker. Kept unexpanded: the worker's shell expands $HOME.
# shellcheck disable=SC2016
REMOTE_SRC='$HOME/unityvideo_jax'
# shellcheck disable=SC2016
REMOTE_VENV='$HOME/unityvideo_venv'
# shellcheck disable=SC2016
REMOTE_LOGS='$HOME/unityvideo_logs'

# Settings: environment first, flags override.
NAME=${UV_TPU_NAME:-}
ZONE=${UV_ZONE:-}
PROJECT=${UV_PROJECT:-}
TPU_TYPE=${UV_TPU_TYPE:-v5p-8}
RUNTIME=${UV_TPU_RUNTIME:-}
CAPACITY=${UV_CAPACITY:-on-demand}
REPO=${UV_REPO:-$REPO_ROOT}
REF=${UV_REPO_REF:-}
PYTHON=${UV_PYTHON:-python3.11}
CONFIG=${UV_CONFIG:-}
WORKDIR=${UV_WORKDIR:-}
RUN_NAME=${UV_RUN_NAME:-}
WORKER=${UV_WORKER:-0}
BACKGROUND=${UV_BACKGROUND:-0}
DRY_RUN=${UV_DRY_RUN:-0}
YES=0
HELP=0
SUBCMD=""
TRAIN_ENV=()
EXTRA=()

die() { # die CODE MESSAGE
  echo "$PROG: $2" >&2
  exit "$1"
}

# ---------------------------------------------------------------------------------------- help
opt_line() { # opt_line FLAG DESCRIPTION ENV DEFAULT
  printf '  %-20s %s\n' "$1" "$2"
  if [[ $3 == - ]]; then
    printf '  %-20s [default: %s]\n' "" "$4"
  else
    printf '  %-20s [%s; default: %s]\n' "" "$3" "$4"
  fi
}

opt_help() {
  case $1 in
    name) opt_line "--name NAME" "TPU node and queued-resource name" UV_TPU_NAME "none, required" ;;
    zone) opt_line "--zone ZONE" "zone, e.g. us-east5-a (v5p), us-west4-a (v5e)" UV_ZONE "none, required" ;;
    project) opt_line "--project ID" "GCP project" UV_PROJECT "gcloud's core/project" ;;
    type) opt_line "--type TYPE" "accelerator type: v5p-8, v5p-64, v5e-8 (= v5litepod-8), v6e-8" UV_TPU_TYPE v5p-8 ;;
    runtime) opt_line "--runtime VERSION" "TPU VM runtime image" UV_TPU_RUNTIME \
      "by type: v5p v2-alpha-tpuv5, v5e v2-alpha-tpuv5-lite, v6e v2-alpha-tpuv6e, v4 tpu-ubuntu2204-base" ;;
    capacity) opt_line "--spot | --reserved" "capacity: spot, reserved or on-demand" UV_CAPACITY on-demand ;;
    repo) opt_line "--repo DIR|GIT_URL" "a local checkout (copied) or a git URL (cloned)" UV_REPO "this checkout, $REPO_ROOT" ;;
    ref) opt_line "--ref BRANCH|TAG" "what to clone when --repo is a git URL" UV_REPO_REF "the remote's default branch" ;;
    python) opt_line "--python PYTHON" "interpreter for the workers' venv (jax needs >= 3.11)" UV_PYTHON python3.11 ;;
    config) opt_line "--config CONFIG" "config passed to 'unityvideo train --config'" UV_CONFIG "none, required" ;;
    workdir) opt_line "--workdir gs://..." "GCS directory; the run writes to WORKDIR/RUN_NAME" UV_WORKDIR "none, required" ;;
    run_name) opt_line "--run-name RUN" "run name: workdir subfolder and log file name" UV_RUN_NAME "run-YYYYmmdd-HHMMSS (now)" ;;
    env) opt_line "--env KEY=VALUE" "extra environment for the trainer (repeatable)" "-" "JAX_PLATFORMS=tpu PYTHONUNBUFFERED=1" ;;
    background) opt_line "--background" "start with nohup and return; logs stay on the workers" UV_BACKGROUND "0 (foreground)" ;;
    worker) opt_line "--worker N|all" "worker to ssh into ('all' needs a command after --)" UV_WORKER 0 ;;
    yes) opt_line "--yes" "do not ask for confirmation" "-" "ask" ;;
    dry_run) opt_line "--dry-run" "print the commands without running them" UV_DRY_RUN "0 (run)" ;;
  esac
}

sub_options() {
  case $1 in
    create) echo "name zone project type runtime capacity" ;;
    setup) echo "name zone project repo ref python" ;;
    train) echo "name zone project config workdir run_name env background" ;;
    status) echo "name zone project" ;;
    ssh) echo "name zone project worker" ;;
    delete) echo "name zone project yes" ;;
  esac
}

sub_summary() {
  case $1 in
    create) echo "request a TPU VM or pod slice as a queued resource (extra gcloud flags after --)" ;;
    setup) echo "copy or clone the repo onto every worker and pip install -e .[tpu] in a venv" ;;
    train) echo "run 'unityvideo train' on every worker (extra train args after --)" ;;
    status) echo "show the queued resource and the TPU node state" ;;
    ssh) echo "ssh into one worker, or run the command after -- on it (or on all)" ;;
    delete) echo "delete the queued resource and its TPU node (asks unless --yes)" ;;
  esac
}

usage() {
  echo "usage: $PROG SUBCOMMAND [OPTIONS] [-- ARGS...]"
  echo
  echo "subcommands:"
  local sub
  for sub in $SUBCOMMANDS; do
    printf '  %-8s %s\n' "$sub" "$(sub_summary "$sub")"
  done
  echo
  echo "options (flags override environment variables):"
  local key
  for key in name zone project type runtime capacity repo ref python config workdir run_name env \
    background worker yes dry_run; do
    opt_help "$key"
  done
  echo
  echo "'$PROG SUBCOMMAND --help' shows the options of one subcommand."
}

sub_usage() {
  local sub=$1 key
  case $sub in
    create | train) echo "usage: $PROG $sub [OPTIONS] [-- ARGS...]" ;;
    ssh) echo "usage: $PROG ssh [OPTIONS] [-- COMMAND...]" ;;
    *) echo "usage: $PROG $sub [OPTIONS]" ;;
  esac
  echo
  sub_summary "$sub"
  echo
  echo "options:"
  for key in $(sub_options "$sub") dry_run; do
    opt_help "$key"
  done
}

# ------------------------------------------------------------------------------ command line
need_value() { # need_value FLAG REMAINING_ARGC
  [[ $2 -ge 2 ]] || die 2 "$1 needs a value"
}

parse_args() {
  local capacity_flags=0 opt val
  while [[ $# -gt 0 ]]; do
    opt=$1
    if [[ $opt == --*=* ]]; then
      val=${opt#*=}
      opt=${opt%%=*}
      case $opt in
        --help | --dry-run | --yes | --background | --spot | --reserved)
          die 2 "$opt takes no value" ;;
      esac
      set -- "$opt" "$val" "${@:2}"
    fi
    case $opt in
      --) shift; EXTRA=("$@"); return ;;
      -h | --help) HELP=1; shift; continue ;;
      --dry-run) DRY_RUN=1; shift; continue ;;
      --yes | -y) YES=1; shift; continue ;;
      --background) BACKGROUND=1; shift; continue ;;
      --spot | --reserved)
        CAPACITY=${opt#--}
        capacity_flags=$((capacity_flags + 1))
        [[ $capacity_flags -le 1 ]] || die 2 "--spot and --reserved exclude each other"
        shift; continue ;;
      --name | --zone | --project | --type | --runtime | --repo | --ref | --python | --config | \
        --workdir | --run-name | --worker | --env) need_value "$opt" $# ;;
      -*) die 2 "unknown option '$opt'; see '$PROG ${SUBCMD:+$SUBCMD }--help'" ;;
      *)
        if [[ $SUBCMD == help ]]; then # "help SUBCOMMAND" reads as "SUBCOMMAND --help"
          SUBCMD=$opt
          HELP=1
        elif [[ -z $SUBCMD ]]; then
          SUBCMD=$opt
        else
          die 2 "unexpected argument '$opt' (arguments for $SUBCMD go after --)"
        fi
        shift; continue ;;
    esac
    case $opt in
      --name) NAME=$2 ;;
      --zone) ZONE=$2 ;;
      --project) PROJECT=$2 ;;
      --type) TPU_TYPE=$2 ;;
      --runtime) RUNTIME=$2 ;;
      --repo) REPO=$2 ;;
      --ref) REF=$2 ;;
      --python) PYTHON=$2 ;;
      --config) CONFIG=$2 ;;
      --workdir) WORKDIR=$2 ;;
      --run-name) RUN_NAME=$2 ;;
      --worker) WORKER=$2 ;;
      --env) TRAIN_ENV+=("$2") ;;
    esac
    shift 2
  done
}

# require KEY... : each key is "VARIABLE:--flag:ENV_VAR"; all missing ones are named in one line.
require() {
  local spec var flag env missing=""
  for spec in "$@"; do
    IFS=: read -r var flag env <<<"$spec"
    if [[ -z ${!var} ]]; then
      missing+="${missing:+, }$flag (or $env)"
    fi
  done
  [[ -z $missing ]] || die 2 "$SUBCMD: missing $missing; see '$PROG $SUBCMD --help'"
}

check_common() {
  require NAME:--name:UV_TPU_NAME ZONE:--zone:UV_ZONE
  [[ $NAME =~ ^[a-z]([-a-z0-9]*[a-z0-9])?$ ]] ||
    die 2 "--name '$NAME' must be lowercase letters, digits and hyphens, starting with a letter"
  if [[ ${#EXTRA[@]} -gt 0 ]]; then
    case $SUBCMD in
      create | train | ssh) ;;
      *) die 2 "$SUBCMD takes no arguments after --" ;;
    esac
  fi
}

# ----------------------------------------------------------------------------------- running
# quote WORD: the word as the shell reads it back (bare when safe, else single-quoted).
quote() {
  local s=$1
  if [[ -n $s && $s != *[!A-Za-z0-9_./:=@%+,-]* ]]; then
    printf '%s' "$s"
  else
    printf "'%s'" "${s//\'/\'\\\'\'}"
  fi
}

# join_quoted WORD...: one line that a shell splits back into exactly these words.
join_quoted() {
  local out="" word
  for word in "$@"; do
    out+="${out:+ }$(quote "$word")"
  done
  printf '%s' "$out"
}

run() {
  join_quoted "$@"
  echo
  [[ $DRY_RUN == 1 ]] && return 0
  "$@"
}

# gcloud_tpu GROUP VERB RESOURCE [ARGS...]: gcloud compute tpus ... with zone and project.
gcloud_tpu() {
  local cmd=(gcloud compute tpus "$1" "$2" "$3" --zone "$ZONE")
  shift 3
  if [[ -n $PROJECT ]]; then
    cmd+=(--project "$PROJECT")
  fi
  run "${cmd[@]}" "$@"
}

ssh_workers() { # ssh_workers WORKER REMOTE_COMMAND
  gcloud_tpu tpu-vm ssh "$NAME" "--worker=$1" --command "$2"
}

check_gcloud() {
  [[ $DRY_RUN == 1 ]] || command -v gcloud >/dev/null ||
    die 2 "gcloud not found: install the Google Cloud SDK, or use --dry-run to print the commands"
}

# ------------------------------------------------------------------------------- subcommands
default_runtime() {
  case $1 in
    v5p-*) echo v2-alpha-tpuv5 ;;
    v5litepod-*) echo v2-alpha-tpuv5-lite ;;
    v6e-*) echo v2-alpha-tpuv6e ;;
    v4-*) echo tpu-ubuntu2204-base ;;
    *) return 1 ;;
  esac
}

cmd_create() {
  local type=$TPU_TYPE runtime=$RUNTIME capacity=()
  if [[ $type == v5e-* ]]; then
    type="v5litepod-${type#v5e-}"
  fi
  if [[ -z $runtime ]]; then
    runtime=$(default_runtime "$type") ||
      die 2 "no default runtime for --type '$type'; set --runtime (or UV_TPU_RUNTIME)"
  fi
  case $CAPACITY in
    spot | reserved) capacity=("--$CAPACITY") ;;
    on-demand) ;;
    *) die 2 "UV_CAPACITY '$CAPACITY' must be spot, reserved or on-demand" ;;
  esac
  gcloud_tpu queued-resources create "$NAME" --node-id "$NAME" --accelerator-type "$type" \
    --runtime-version "$runtime" ${capacity[@]+"${capacity[@]}"} ${EXTRA[@]+"${EXTRA[@]}"}
  echo "# then: $PROG status, and $PROG setup once the node is READY" >&2
}

remote_venv_install() {
  local py
  py=$(quote "$PYTHON")
  printf '%s' "if [ ! -x \"$REMOTE_VENV/bin/python\" ]; then"
  printf '%s' " if ! command -v $py >/dev/null 2>&1 || ! $py -m venv \"$REMOTE_VENV\"; then"
  printf '%s' " sudo apt-get update -q && sudo apt-get install -y -q $py $(quote "$PYTHON-venv")"
  printf '%s' " && $py -m venv --clear \"$REMOTE_VENV\"; fi; fi;"
  printf '%s' " \"$REMOTE_VENV/bin/python\" -m pip install -q --upgrade pip;"
  printf '%s' " \"$REMOTE_VENV/bin/python\" -m pip install -e \"${REMOTE_SRC}[tpu]\";"
  printf '%s' " \"$REMOTE_VENV/bin/python\" -c 'import jax; print(\"jax\", jax.__version__)'"
}

cmd_setup() {
  local fetch
  if [[ -d $REPO ]]; then
    local tarball="${TMPDIR:-/tmp}/unityvideo_jax-$NAME.tgz"
    run tar -czf "$tarball" --exclude=.git --exclude=.venv --exclude=__pycache__ \
      --exclude='*.egg-info' --exclude=.pytest_cache -C "$REPO" .
    gcloud_tpu tpu-vm scp "$tarball" "$NAME:unityvideo_jax.tgz" --worker=all
    run rm -f "$tarball"
    fetch="mkdir -p \"$REMOTE_SRC\" && tar -xzf \"\$HOME/unityvideo_jax.tgz\" -C \"$REMOTE_SRC\""
    fetch+=" && rm -f \"\$HOME/unityvideo_jax.tgz\""
  elif [[ $REPO == *://* || $REPO == *@*:* ]]; then
    fetch="git clone --depth 1${REF:+ --branch $(quote "$REF")} $(quote "$REPO") \"$REMOTE_SRC\""
  else
    die 2 "--repo '$REPO' is neither a local directory nor a git URL (set --repo or UV_REPO)"
  fi
  ssh_workers all "set -e; rm -rf \"$REMOTE_SRC\"; $fetch; $(remote_venv_install)"
}

cmd_train() {
  require CONFIG:--config:UV_CONFIG WORKDIR:--workdir:UV_WORKDIR
  [[ $WORKDIR == gs://?* ]] ||
    die 2 "--workdir '$WORKDIR' must be a gs:// path that every worker can reach (or set UV_WORKDIR)"
  local run_name=${RUN_NAME:-run-$(date +%Y%m%d-%H%M%S)} kv
  [[ $run_name =~ ^[A-Za-z0-9._-]+$ ]] ||
    die 2 "--run-name '$run_name' may hold only letters, digits, '.', '_' and '-'"
  for kv in ${TRAIN_ENV[@]+"${TRAIN_ENV[@]}"}; do
    [[ $kv =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die 2 "--env '$kv' is not KEY=VALUE"
  done
  local log="$REMOTE_LOGS/$run_name.log"
  local argv
  argv="env $(join_quoted JAX_PLATFORMS=tpu PYTHONUNBUFFERED=1 ${TRAIN_ENV[@]+"${TRAIN_ENV[@]}"})"
  argv+=" \"$REMOTE_VENV/bin/unityvideo\" $(join_quoted train --config "$CONFIG" \
    --workdir "${WORKDIR%/}/$run_name" ${EXTRA[@]+"${EXTRA[@]}"})"
  local remote="cd \"$REMOTE_SRC\" && mkdir -p \"$REMOTE_LOGS\" && "
  if [[ $BACKGROUND == 1 ]]; then
    remote+="nohup $argv > \"$log\" 2>&1 < /dev/null & echo \"\$(hostname): started, log $log\""
  else
    remote+="set -o pipefail && $argv 2>&1 | tee \"$log\""
  fi
  echo "# run $run_name: ${WORKDIR%/}/$run_name, log ~/unityvideo_logs/$run_name.log on each worker" >&2
  ssh_workers all "$remote"
}

cmd_status() {
  gcloud_tpu queued-resources describe "$NAME"
  gcloud_tpu tpu-vm describe "$NAME" \
    --format 'table(name.basename(),state,health,acceleratorType,runtimeVersion)' ||
    echo "# no TPU node '$NAME' yet: the queued resource may still be waiting" >&2
}

cmd_ssh() {
  [[ $WORKER == all || $WORKER =~ ^[0-9]+$ ]] || die 2 "--worker '$WORKER' must be a number or 'all'"
  if [[ ${#EXTRA[@]} -eq 0 ]]; then
    [[ $WORKER != all ]] || die 2 "--worker all needs a command after --"
    gcloud_tpu tpu-vm ssh "$NAME" "--worker=$WORKER"
  elif [[ ${#EXTRA[@]} -eq 1 ]]; then # one word: a shell command line, used as written
    ssh_workers "$WORKER" "${EXTRA[0]}"
  else # several words: an argv, quoted so that each word arrives as it is
    ssh_workers "$WORKER" "$(join_quoted "${EXTRA[@]}")"
  fi
}

cmd_delete() {
  if [[ $YES != 1 && $DRY_RUN != 1 ]]; then
    local answer=""
    printf 'Delete queued resource %s and its TPU node in %s? [y/N] ' "$NAME" "$ZONE" >&2
    read -r answer || echo >&2
    case $answer in
      y | Y | yes | YES) ;;
      *) die 1 "not deleted" ;;
    esac
  fi
  # --force deletes the node(s) first, then the queued resource.
  gcloud_tpu queued-resources delete "$NAME" --force --quiet
}

main() {
  parse_args "$@"
  if [[ -z $SUBCMD || $SUBCMD == help ]]; then
    if [[ $HELP == 1 || $SUBCMD == help ]]; then
      usage
      exit 0
    fi
    die 2 "missing subcommand: one of $SUBCOMMANDS (see '$PROG --help')"
  fi
  case " $SUBCOMMANDS " in
    *" $SUBCMD "*) ;;
    *) die 2 "unknown subcommand '$SUBCMD'; one of: $SUBCOMMANDS (see '$PROG --help')" ;;
  esac
  if [[ $HELP == 1 ]]; then
    sub_usage "$SUBCMD"
    exit 0
  fi
  check_common
  check_gcloud
  "cmd_$SUBCMD"
}

main "$@"
