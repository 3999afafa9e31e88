#!/usr/bin/env bash
# Proves the README's two commands on a fresh minimal Debian 12 (bookworm):
# makes a minbase root with debootstrap (the base cached as a tarball), gives
# it this machine's package sources and trusted CA certificates, clones this
# checkout's HEAD into it with nothing beside it, installs git, runs the two
# commands of the README's "The two commands" section and prints each one's
# exit code, time and summary. Needs root. About 6-10 minutes; not in .ci/run.
#
#   sudo tests/fresh-debian.sh [--keep] [--cache DIR]
#
#   --keep       leave the root in place (its path is printed) to look around
#   --cache DIR  where the base tarball is kept (default /var/cache/ravao-fresh)
set -euo pipefail

REPO=$(cd -- "$(dirname -- "$0")/.." && pwd -P)
CACHE=/var/cache/ravao-fresh
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1 ;;
    --cache) CACHE=${2:?--cache needs a folder}; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fresh-debian.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "fresh-debian.sh: run as root" >&2; exit 2; }

say() { echo "[fresh-debian $(date +%H:%M:%S)] $*"; }

# The README's two commands, read from its first code block under "## The two commands".
mapfile -t COMMANDS < <(awk '/^## The two commands/ { s = 1 } s && /^```/ { if (inside) exit; inside = 1; next }
                            inside { sub(/[ \t]*#.*/, ""); if ($0 != "") print }' "$REPO/README.md")
[ "${#COMMANDS[@]}" -eq 2 ] || { echo "fresh-debian.sh: expected two commands in the README, found ${#COMMANDS[@]}" >&2; exit 1; }

MIRROR=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
BASE=$CACHE/bookworm-minbase.tar.gz

if [ ! -f "$BASE" ]; then
  command -v debootstrap >/dev/null || {
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  mkdir -p "$CACHE"
  build=$(mktemp -d "$CACHE/build.XXXXXX")
  say "debootstrap --variant=minbase bookworm from $MIRROR (cached as $BASE)"
  debootstrap --variant=minbase bookworm "$build" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -n 20 "$CACHE/debootstrap.log"; exit 1; }
  tar -C "$build" -czf "$BASE.tmp" . && mv "$BASE.tmp" "$BASE"
  rm -rf "$build"
fi

ROOT=$(mktemp -d /var/tmp/ravao-fresh.XXXXXX)
MOUNTS=()
cleanup() {
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[i]}" 2>/dev/null || true; done
  if [ "$KEEP" -eq 1 ]; then say "root kept in $ROOT"; else rm -rf "$ROOT"; fi
}
trap cleanup EXIT
bind() { mkdir -p "$ROOT$1"; mount --bind "$1" "$ROOT$1"; MOUNTS+=("$ROOT$1"); }

say "unpacking the base into $ROOT"
tar -C "$ROOT" -xzf "$BASE"
# mktemp made the root (and the cached base's ".") 0700: inside, "/" would shut
# out every user but root (postgres, for one). A real Debian root is 0755.
chmod 755 "$ROOT"

# This machine's package sources, apt settings, pip settings and trusted CAs,
# so that installs inside reach what installs outside reach, the same way.
cp -a /etc/apt/sources.list.d/debian.sources "$ROOT/etc/apt/sources.list.d/" 2>/dev/null || true
for conf in /etc/apt/apt.conf.d/99*; do [ -f "$conf" ] && cp -a "$conf" "$ROOT/etc/apt/apt.conf.d/"; done
[ -f /etc/pip.conf ] && cp -a /etc/pip.conf "$ROOT/etc/pip.conf"
mkdir -p "$ROOT/etc/ssl/certs" "$ROOT/usr/local/share/ca-certificates"
cp -a /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/"
cp -a /usr/local/share/ca-certificates/. "$ROOT/usr/local/share/ca-certificates/" 2>/dev/null || true
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"

mount -t proc proc "$ROOT/proc"; MOUNTS+=("$ROOT/proc")
bind /sys
bind /dev
bind /dev/pts
mkdir -p "$ROOT/dev/shm"; mount -t tmpfs tmpfs "$ROOT/dev/shm"; MOUNTS+=("$ROOT/dev/shm")

inside() {
  chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    bash -c "$1"
}

say "installing git inside, as a new user would"
inside "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git ca-certificates" \
  >"$ROOT/root/git-install.log" 2>&1 || { tail -n 20 "$ROOT/root/git-install.log"; exit 1; }
git clone -q --no-hardlinks "$REPO" "$ROOT/root/ravao"
say "cloned $(git -C "$REPO" rev-parse --short HEAD) into /root/ravao, nothing beside it"

LOGS=$CACHE/last-run
rm -rf "$LOGS"; mkdir -p "$LOGS"
declare -a RESULTS=()
for i in "${!COMMANDS[@]}"; do
  cmd=${COMMANDS[i]}
  out=$LOGS/command-$((i + 1)).log
  say "running: $cmd"
  start=$SECONDS
  set +e
  inside "cd /root/ravao && $cmd" >"$out" 2>&1
  rc=$?
  set -e
  took=$((SECONDS - start))
  errors=$(grep -c -E '(^|[ :])ERROR[ :]' "$out" || true)
  summary=$(grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$out" | tail -n 1 || true)
  RESULTS+=("$(printf '%-32s exit %-3s %5s s  ERROR lines: %-3s %s' "$cmd" "$rc" "$took" "$errors" "$summary")")
  [ "$rc" -eq 0 ] || { echo "--- the end of its output:"; tail -n 30 "$out"; }
done

echo
say "results (whole outputs in $LOGS)"
printf '%s\n' "${RESULTS[@]}"
for line in "${RESULTS[@]}"; do
  case "$line" in *"exit 0 "*) ;; *) exit 1 ;; esac
done
