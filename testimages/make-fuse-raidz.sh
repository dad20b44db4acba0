#!/bin/bash
# Builds zfs-fuse v23 raidz pools with real files (for reading files through
# parity, e.g. with one member zeroed):
#   fuse-raidz1.{0,1,2}.img    pool kzraidz1: raidz1 of three 64 MiB files
#   fuse-raidz2.{0,1,2,3}.img  pool kzraidz2: raidz2 of four 64 MiB files
# Each has dataset <pool>/data (compression off) with the populate.py tree
# (large file, holes, links, special files, ...), snapshot @one.
# Goldens: <pool files>.files.json (manifest of <pool>/data read through the
# mount), zdb -l/-lu per member, zdb -e -d per pool.
#   sudo bash testimages/make-fuse-raidz.sh
. "$(dirname "$0")/lib.sh"
POP="python3 $TI/tools/populate.py"
MANIFEST="python3 $TI/tools/manifest.py"
zfs_fuse_up
trap zfs_fuse_down EXIT

for spec in "raidz1 3" "raidz2 4"; do
  set -- $spec
  kind=$1 n=$2 pool=kz$1 d=$BUILD/fuse-$1 m=$BUILD/mnt-$1
  zp export "$pool" 2>/dev/null || true
  rm -rf "$d" "$m"; mkdir -p "$d" "$m"
  files=()
  for i in $(seq 0 $((n - 1))); do
    truncate -s 64M "$d/fuse-$kind.$i.img"
    files+=("$d/fuse-$kind.$i.img")
  done
  log "creating $pool ($kind of $n)"
  zp create -f -o version=23 -o ashift=9 -m none "$pool" "$kind" "${files[@]}"
  zf create -o compression=off -o mountpoint="$m" "$pool/data"
  $POP tree "$m" "$pool" --large $((2 << 20))
  $MANIFEST "$m" >"$BUILD/fuse-$kind.files.json"
  zf snapshot -r "$pool@one"
  zp export "$pool"
  zdb -e -p "$d" "$pool" -d >"$TI/fuse-$kind.zdb-d.txt" 2>&1
  cp "$BUILD/fuse-$kind.files.json" "$TI/fuse-$kind.files.json"
  for f in "${files[@]}"; do
    b=${f##*/}
    golden_labels "$f" "$b"
    cp --sparse=always "$f" "$BUILD/$b"
    compress "$b"
    rm -f "$BUILD/$b"
  done
done
log "done"
