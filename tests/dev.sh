#!/usr/bin/env bash
# Sets up a Debian 12 machine for ravao and runs the demo or the test suite.
#   tests/dev.sh demo        the appliance's main job, simulated, against a local Mosquitto
#   tests/dev.sh test [ARGS] the whole test suite (ARGS go to pytest)
# Installs what it needs: apt packages (as root, or through sudo) and a
# virtual environment in .venv with ravao and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(mosquitto mosquitto-clients libzbar0 fonts-dejavu-core python3-venv python3-dev shellcheck)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_apt_packages() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

make_venv() {
  local stamp=.venv/.ravao-installed want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  [ -x .venv/bin/python ] || python3 -m venv .venv
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== installing ravao into .venv" >&2
    .venv/bin/python -m pip install -q --upgrade pip >&2
    .venv/bin/python -m pip install -q -e '.[test]' >&2
    echo "$want" > "$stamp"
  fi
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  demo)
    install_apt_packages
    make_venv
    exec .venv/bin/python tests/demo.py "$@"
    ;;
  test)
    install_apt_packages
    make_venv
    exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: tests/dev.sh demo | test [pytest arguments]" >&2
    exit 2
    ;;
esac
