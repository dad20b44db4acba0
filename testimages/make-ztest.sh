#!/bin/bash
# Builds feature-flag (v5000) pools with OpenZFS 2.1 ztest, in user space:
#   ztest-mirror1  one top-level `mirror` with a single file child (ztest's -m 1)
#   ztest-mirror2  a two-way mirror
#   ztest-raidz1   raidz1 of 3 files, ashift 12
#   ztest-raidz2   raidz2 of 4 files
# ztest fills its datasets with random data, so the runs are kept short
# (-T 1, one thread, one dataset, no kills) to keep the images small.
# Vdev files become ztest-<variant>.<ztest's suffix>.img (e.g. ztest-mirror2.0b.img).
# Goldens: zdb -l/-lu per vdev file, zdb -e -d per pool.
#   sudo bash testimages/make-ztest.sh
. "$(dirname "$0")/lib.sh"

# ztest's activity is random, and so is how much random data it leaves: make up
# to ATTEMPTS pools per variant and keep the one whose vdev files compress
# smallest (the budget ends the search early).
ATTEMPTS=${ZTEST_ATTEMPTS:-6}
BUDGET=${ZTEST_BUDGET:-400000}   # bytes, zstd -3 of all vdev files together

run() {   # run VARIANT ztest-options...
  local v=$1; shift
  local best= bestsize=
  for a in $(seq "$ATTEMPTS"); do
    local d=$BUILD/ztest-$v.try$a
    rm -rf "$d"; mkdir -p "$d"
    log "ztest $v (attempt $a): $*"
    ztest -V -T 1 -P 1 -k 0 -t 1 -d 1 -s 64m -f "$d" "$@" >"$d/ztest.log" 2>&1 || { tail -5 "$d/ztest.log"; continue; }
    local size
    size=$(find "$d" -name 'ztest.*' ! -name '*.log' -exec cat {} + | zstd -3 -T2 -c | wc -c)
    log "  compressed size $size"
    if [ -z "$bestsize" ] || [ "$size" -lt "$bestsize" ]; then
      [ -n "$best" ] && rm -rf "$best"
      best=$d bestsize=$size
    else
      rm -rf "$d"
    fi
    [ "$bestsize" -le "$BUDGET" ] && break
  done
  [ -n "$best" ] || { echo "ztest $v failed $ATTEMPTS times" >&2; exit 1; }
  local d=$BUILD/ztest-$v
  rm -rf "$d"; mv "$best" "$d"
  rm -f "$TI/ztest-$v".*
  # zdb -e finds the vdevs by scanning; their paths in the labels still name
  # the attempt's directory (ztest-$v.tryN)
  rm -f "$d/zpool.cache"
  zdb -e -p "$d" ztest -d >"$TI/ztest-$v.zdb-d.txt" 2>&1
  for f in "$d"/ztest.*; do
    case $f in *.log) continue ;; esac
    local n="ztest-$v.${f##*/ztest.}.img"
    cp --sparse=always "$f" "$BUILD/$n"
    golden_labels "$BUILD/$n" "$n"
    compress "$n"
    rm -f "$BUILD/$n"
  done
}

run mirror1 -v 1 -m 1 -r 1 -R 1 -K raidz
run mirror2 -v 1 -m 2 -r 1 -R 1 -K raidz
run raidz1  -v 1 -m 1 -r 3 -R 1 -K raidz -a 12
run raidz2  -v 1 -m 1 -r 4 -R 2 -K raidz
log "done"
