#!/bin/bash
# Turns Raspberry Pi OS Lite (Bookworm, 64-bit) into a ravao check-in appliance.
# Run from a checkout of the repository:  sudo firmware/install.sh
# Idempotent: a second run changes nothing. See docs/deployment.md.
set -euo pipefail
umask 022

usage() {
    cat <<'EOF'
Usage: sudo firmware/install.sh [--root DIR] [--no-apt]

Installs ravao from this checkout: apt packages, a virtual environment in
/opt/ravao/venv, the ravao user, /etc/ravao/config.toml (only if missing),
the systemd unit (enabled), the config.txt fragment, the polkit rule for
Wi-Fi, the I2C module and the hardware watchdog settings.

  --root DIR  install into a staging root instead of /. Skips what cannot
              run there: the virtual environment and pip, systemctl
              daemon-reload/restart. The user is created with
              systemd-sysusers --root, the unit enabled with systemctl --root.
              Needs --no-apt.
  --no-apt    do not install apt packages.
  -h, --help  this text.
EOF
}

die() { echo "install.sh: $*" >&2; exit 1; }
note() { echo "install.sh: $*"; }

ROOT=""
APT=1
while [ $# -gt 0 ]; do
    case "$1" in
        --root)
            [ $# -ge 2 ] || die "--root needs a directory"
            ROOT=$2
            shift 2
            ;;
        --root=*)
            ROOT=${1#--root=}
            shift
            ;;
        --no-apt)
            APT=0
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            die "unknown option: $1 (see --help)"
            ;;
    esac
done

if [ -n "$ROOT" ]; then
    if [ "$APT" = 1 ]; then
        die "apt cannot install into a staging root: add --no-apt"
    fi
    mkdir -p -- "$ROOT"
    ROOT=$(cd -- "$ROOT" && pwd -P)
    [ "$ROOT" = / ] && ROOT=""
fi
STAGING=0
[ -n "$ROOT" ] && STAGING=1
if [ "$STAGING" = 0 ] && [ "$(id -u)" != 0 ]; then
    die "run as root (sudo), or use --root DIR --no-apt for a staging root"
fi
CHOWN=1
if [ "$(id -u)" != 0 ]; then
    CHOWN=0
    note "not root: files keep your user as owner"
fi

SRC=$(cd -- "$(dirname -- "$0")/.." && pwd -P)
FW=$SRC/firmware
if [ ! -f "$SRC/pyproject.toml" ] || [ ! -f "$FW/config.toml" ]; then
    die "run me from a ravao checkout"
fi

APT_PACKAGES=(
    python3 python3-venv python3-pip
    python3-picamera2 python3-libcamera python3-lgpio python3-numpy
    libzbar0 fonts-dejavu-extra
    network-manager polkitd i2c-tools systemd
)
VENV=/opt/ravao/venv
USER_NAME=ravao
GROUPS_WANTED=(video gpio i2c)
UNIT_DIR=/usr/local/lib/systemd/system

CHANGES=0
REBOOT=0
UNIT_CHANGED=0
MANAGER_CHANGED=0

changed() {
    CHANGES=$((CHANGES + 1))
    note "$*"
}

# id of a user or group in the target's own files (the staging root's, not ours)
uid_of() {
    [ "$1" = root ] && { echo 0; return; }
    awk -F: -v n="$1" '$1 == n { print $3; found = 1 } END { exit !found }' "$ROOT/etc/passwd"
}
gid_of() {
    [ "$1" = root ] && { echo 0; return; }
    awk -F: -v n="$1" '$1 == n { print $3; found = 1 } END { exit !found }' "$ROOT/etc/group"
}

# set_meta PATH MODE OWNER GROUP: mode and owner, touched only when they differ
set_meta() {
    local path=$1 mode=$2 owner=$3 group=$4 uid gid
    if [ "$(stat -c %a -- "$path")" != "$mode" ]; then
        chmod -- "$mode" "$path"
        changed "mode $mode: ${path#"$ROOT"}"
    fi
    [ "$CHOWN" = 1 ] || return 0
    uid=$(uid_of "$owner") || die "no user $owner in $ROOT/etc/passwd"
    gid=$(gid_of "$group") || die "no group $group in $ROOT/etc/group"
    if [ "$(stat -c %u:%g -- "$path")" != "$uid:$gid" ]; then
        chown -h -- "$uid:$gid" "$path"
        changed "owner $owner:$group: ${path#"$ROOT"}"
    fi
}

# own_dir DIR MODE OWNER GROUP: a directory that belongs to ravao
own_dir() {
    local dir=$ROOT$1
    if [ ! -d "$dir" ]; then
        mkdir -p -- "$dir"
        changed "created ${dir#"$ROOT"}"
    fi
    set_meta "$dir" "$2" "$3" "$4"
}

# put_file SOURCE DEST MODE OWNER GROUP: replaced (atomically) only when different
put_file() {
    local src=$1 dest=$ROOT$2 tmp
    if [ ! -d "$(dirname -- "$dest")" ]; then
        mkdir -p -- "$(dirname -- "$dest")"
    fi
    if ! cmp -s -- "$src" "$dest"; then
        tmp=$dest.ravao-new
        cp -- "$src" "$tmp"
        chmod -- "$3" "$tmp"
        mv -f -- "$tmp" "$dest"
        changed "installed $2"
    fi
    set_meta "$dest" "$3" "$4" "$5"
}

step_apt() {
    local pkg missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    note "apt: installing ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    changed "apt packages: ${missing[*]}"
}

in_group() {
    awk -F: -v g="$1" -v u="$2" '$1 == g { n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == u) found = 1 }
        END { exit !found }' "$ROOT/etc/group"
}

step_user() {
    local group need=0
    put_file "$FW/ravao.sysusers" /usr/local/lib/sysusers.d/ravao.conf 644 root root
    command -v systemd-sysusers >/dev/null || die "systemd-sysusers not found (package systemd)"
    uid_of "$USER_NAME" >/dev/null 2>&1 || need=1
    for group in "${GROUPS_WANTED[@]}"; do
        in_group "$group" "$USER_NAME" 2>/dev/null || need=1
    done
    [ "$need" = 1 ] || return 0
    if [ "$STAGING" = 1 ]; then
        mkdir -p -- "$ROOT/etc"
        systemd-sysusers --root="$ROOT"
    else
        systemd-sysusers /usr/local/lib/sysusers.d/ravao.conf
    fi
    uid_of "$USER_NAME" >/dev/null || die "systemd-sysusers did not create the user $USER_NAME"
    changed "user $USER_NAME in groups ${GROUPS_WANTED[*]}"
}

# a digest of what pip installs, so an unchanged checkout is not reinstalled
source_digest() {
    local parts=() part
    for part in ravao ravao_protocol appliance provisioning pyproject.toml README.md; do
        [ -e "$SRC/$part" ] && parts+=("$part")
    done
    (
        cd -- "$SRC"
        find "${parts[@]}" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 |
            LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
    )
}

step_venv() {
    local digest stamp=$VENV/.ravao-source
    if [ "$STAGING" = 1 ]; then
        note "staging root: no virtual environment, no pip install"
        return 0
    fi
    own_dir /opt/ravao 755 root root
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv --system-site-packages "$VENV"
        changed "created $VENV"
    fi
    digest=$(source_digest)
    if [ "$(cat -- "$stamp" 2>/dev/null || true)" != "$digest" ]; then
        "$VENV/bin/pip" install --no-cache-dir --disable-pip-version-check "${SRC}[pi]"
        echo "$digest" >"$stamp"
        changed "installed ravao from $SRC into $VENV"
    fi
}

step_config() {
    own_dir /etc/ravao 755 root root
    if [ -e "$ROOT/etc/ravao/config.toml" ]; then
        note "kept /etc/ravao/config.toml"
    else
        put_file "$FW/config.toml" /etc/ravao/config.toml 640 root "$USER_NAME"
    fi
    own_dir /var/lib/ravao 700 "$USER_NAME" "$USER_NAME"
}

step_units() {
    local unit name before=$CHANGES
    for unit in "$SRC"/systemd/*.service; do
        put_file "$unit" "$UNIT_DIR/$(basename -- "$unit")" 644 root root
    done
    [ "$CHANGES" = "$before" ] || UNIT_CHANGED=1
    before=$CHANGES
    put_file "$FW/system-watchdog.conf" /etc/systemd/system.conf.d/ravao-watchdog.conf 644 root root
    [ "$CHANGES" = "$before" ] || MANAGER_CHANGED=1
    put_file "$FW/modules-load.conf" /etc/modules-load.d/ravao.conf 644 root root
    for unit in "$SRC"/systemd/*.service; do
        name=$(basename -- "$unit")
        [ -L "$ROOT/etc/systemd/system/multi-user.target.wants/$name" ] && continue
        if [ "$STAGING" = 1 ]; then
            systemctl --root="$ROOT" --quiet enable "$name"
        else
            systemctl daemon-reload
            systemctl --quiet enable "$name"
        fi
        changed "enabled $name"
    done
}

step_polkit() {
    put_file "$FW/10-ravao-wifi.rules" /etc/polkit-1/rules.d/10-ravao-wifi.rules 644 root root
}

step_docs() {
    put_file "$SRC/docs/deployment.md" /usr/local/share/doc/ravao/deployment.md 644 root root
}

step_boot_config() {
    local cfg=""
    if [ -f "$ROOT/boot/firmware/config.txt" ]; then
        cfg=$ROOT/boot/firmware/config.txt
    elif [ -f "$ROOT/boot/config.txt" ]; then
        cfg=$ROOT/boot/config.txt
    else
        note "no /boot/firmware/config.txt: enable the camera, I2C and the watchdog by hand"
        return 0
    fi
    if grep -qxF "$(head -n 1 "$FW/boot-config.txt")" "$cfg"; then
        return 0
    fi
    {
        printf '\n'
        cat -- "$FW/boot-config.txt"
    } >>"$cfg"
    sync
    REBOOT=1
    changed "added the ravao section to ${cfg#"$ROOT"}"
}

if [ "$STAGING" = 0 ] && [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ "$codename" = bookworm ] || note "made for Raspberry Pi OS Bookworm, this is '${codename:-unknown}'"
fi

if [ "$APT" = 1 ]; then
    step_apt
fi
step_user
step_venv
step_config
step_units
step_polkit
step_docs
step_boot_config

if [ "$STAGING" = 0 ]; then
    if [ "$MANAGER_CHANGED" = 1 ]; then
        systemctl daemon-reexec # RuntimeWatchdogSec
    elif [ "$UNIT_CHANGED" = 1 ]; then
        systemctl daemon-reload
    fi
    if [ "$REBOOT" = 1 ]; then
        note "reboot to turn on the camera, I2C and the watchdog: sudo reboot"
    elif [ "$CHANGES" -gt 0 ]; then
        # waits for READY=1, the first camera frame
        if systemctl restart ravao.service; then
            note "restarted ravao.service"
        else
            echo "install.sh: installed, but ravao.service did not start: journalctl -u ravao" >&2
        fi
    fi
fi

if [ "$CHANGES" = 0 ]; then
    note "nothing changed"
else
    note "$CHANGES changes"
fi
