#!/usr/bin/env bash
# Sets up a Debian 12 machine for ravao and runs the demo or the test suite.
#   tests/dev.sh demo        the appliance's main job, simulated, against a local Mosquitto
#   tests/dev.sh test [ARGS] the whole test suite (ARGS go to pytest)
#   tests/dev.sh lint        ruff, mypy and import-linter (what .ci/run checks besides the tests)
# Installs what it needs: apt packages (as root, or through sudo) and a
# virtual environment in .venv with ravao and its test tools. What apt and
# pip print goes to .setup.log; the terminal gets one line per step.
set -euo pipefail
cd "$(dirname "$0")/.."

# fonts-dejavu-extra holds DejaVu Sans Condensed (the display's font);
# systemd brings systemd-analyze and systemd-sysusers for the unit tests,
# and is missing from minimal and container roots. postgresql-15: the tests
# start their own server with its initdb and pg_ctl (never the system's).
APT_PACKAGES=(mosquitto mosquitto-clients libzbar0 fonts-dejavu-extra python3-venv python3-dev
              shellcheck systemd postgresql-15)
LOG=$PWD/.setup.log
: >"$LOG"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# step LABEL COMMAND...: runs COMMAND with its output in $LOG, then prints
# LABEL and how long it took; on failure, the end of the log.
step() {
  local label=$1 start=$SECONDS
  shift
  echo "== $label" >>"$LOG"
  if ! "$@" >>"$LOG" 2>&1; then
    echo "== $label: FAILED; the end of $LOG:" >&2
    tail -n 25 "$LOG" >&2
    exit 1
  fi
  echo "== $label ($((SECONDS - start)) s)" >&2
}

install_apt_packages() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  step "apt: updating the package lists" as_root env DEBIAN_FRONTEND=noninteractive apt-get update
  step "apt: installing ${missing[*]}" \
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

make_venv() {
  local stamp=.venv/.ravao-installed want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  [ -x .venv/bin/python ] || step "python: making .venv" python3 -m venv .venv
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    step "pip: upgrading pip in .venv" .venv/bin/python -m pip install --upgrade pip
    step "pip: installing ravao, its central side and its test tools into .venv" \
      .venv/bin/python -m pip install -e '.[test,central]'
    echo "$want" > "$stamp"
  fi
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  demo)
    install_apt_packages
    make_venv
    exec .venv/bin/python -m tests.demo "$@"
    ;;
  test)
    install_apt_packages
    make_venv
    exec .venv/bin/python -m pytest "$@"
    ;;
  lint)
    install_apt_packages
    make_venv
    echo "== ruff" >&2 && .venv/bin/ruff check --quiet .
    echo "== mypy" >&2 && .venv/bin/mypy
    echo "== import-linter" >&2 && .venv/bin/lint-imports --no-cache
    ;;
  *)
    echo "usage: tests/dev.sh demo | test [pytest arguments] | lint" >&2
    exit 2
    ;;
esac
