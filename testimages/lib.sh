# Shared helpers of the testimages/make-*.sh scripts (sourced, not run).
# They need root, zfs-fuse unpacked at $ZFS_FUSE_ROOT (tests/run.sh does that),
# OpenZFS 2.1 zdb/ztest (zfsutils-linux), zstd, python3 and losetup.
set -euo pipefail

TI=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)          # testimages/
ZFS_FUSE_ROOT=${ZFS_FUSE_ROOT:-/opt/zfs-fuse}
ZPOOL=$ZFS_FUSE_ROOT/sbin/zpool
ZFS=$ZFS_FUSE_ROOT/sbin/zfs
# Scratch directory: pools are built here; its path ends up in the labels.
BUILD=${KZ_FIXTURE_BUILD:-/tmp/kzfx-build}
mkdir -p "$BUILD"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Starts the zfs-fuse daemon unless one answers already (only one may run per
# machine). Sets STARTED_ZFS_FUSE to its pid when we started it.
STARTED_ZFS_FUSE=
zfs_fuse_up() {
  if timeout 20 "$ZPOOL" list >/dev/null 2>&1; then return 0; fi
  log "starting zfs-fuse"
  setsid "$ZFS_FUSE_ROOT/sbin/zfs-fuse" --no-daemon >"$BUILD/zfs-fuse.log" 2>&1 &
  STARTED_ZFS_FUSE=$!
  for _ in $(seq 50); do
    timeout 20 "$ZPOOL" list >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "zfs-fuse did not come up; see $BUILD/zfs-fuse.log" >&2
  exit 1
}
# Stops the daemon if this script started it.
zfs_fuse_down() {
  if [ -n "$STARTED_ZFS_FUSE" ]; then
    kill "$STARTED_ZFS_FUSE" 2>/dev/null || true
    wait "$STARTED_ZFS_FUSE" 2>/dev/null || true
    STARTED_ZFS_FUSE=
  fi
}

# Runs a zfs-fuse zpool/zfs command with a time limit (a stuck daemon must not
# hang the build forever).
zp() { timeout 300 "$ZPOOL" "$@"; }
zf() { timeout 300 "$ZFS" "$@"; }

# compress NAME: testimages/NAME.zst from $BUILD/NAME (zstd -19 --long).
compress() {
  zstd -q -f -19 --long=27 -T2 "$BUILD/$1" -o "$TI/$1.zst"
}

# golden_labels FILE NAME: zdb -l / -lu of FILE as testimages/NAME.zdb-l.txt
# and NAME.zdb-lu.txt (OpenZFS 2.1 zdb; it prints the labels it finds).
golden_labels() {
  local f=$1 name=$2
  zdb -l "$f" >"$TI/$name.zdb-l.txt" 2>&1 || true
  zdb -lu "$f" >"$TI/$name.zdb-lu.txt" 2>&1 || true
}

# A loop device over [offset, offset+size) of an image (a whole slice), so a
# pool created on it has a `disk` leaf with a Linux device path. Prints the
# device. The kernel here has no partition scanning for loop devices.
loop_slice() {
  losetup -f --show -o "$2" --sizelimit "$3" "$1"
}

# sha256 of a file, bare.
sha() { sha256sum "$1" | cut -d' ' -f1; }

# zfs destroy, retrying while the FUSE mount is still busy.
destroy_busy() {
  for _ in $(seq 30); do
    zf destroy "$1" 2>/dev/null && return 0
    sleep 1
  done
  zf destroy -f "$1"
}
