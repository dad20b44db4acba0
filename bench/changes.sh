#!/bin/bash
# Benchmark: `kzrescue changes --since TXG` after modifying 10 files of a
# >= 1 GiB dataset, against what it replaces: two full manifests (the state
# at TXG and the head) and `manifest diff`. Same pool as bench/manifest.sh
# (zfs-fuse, v23, lzjb, big/medium/small files, half compressible).
#
# Usage: bench/changes.sh [WORKDIR]      (root, FUSE, zfs-fuse unpacked in
# $ZFS_FUSE_ROOT (default /opt/zfs-fuse, see tests/run.sh), zdb)
# RUNS=3 pairs are timed, A and B alternating, the page cache dropped before
# every run; the median of the per-pair ratios is printed (target <= 0.1).
# A zfs-fuse daemon already running is used as is; otherwise one is started
# and stopped again by its pid. The pool is created, measured, destroyed.
set -euo pipefail
ROOT=${ZFS_FUSE_ROOT:-/opt/zfs-fuse}
WORK=${1:-$(mktemp -d /tmp/kzbench.XXXXXX)}
SIZE_MB=${SIZE_MB:-1200}
RUNS=${RUNS:-3}
POOL=kzchg$$
HERE=$(cd "$(dirname "$0")/.." && pwd)
. "$HERE/bench/lib.sh"
KZ=${KZRESCUE:-$HERE/target/release/kzrescue}
mkdir -p "$WORK"
zfsfuse_start "$WORK" || exit 2
[ -x "$KZ" ] || (cd "$HERE" && cargo build --release -q)
cleanup() {
  "$ZPOOL" destroy -f "$POOL" 2>/dev/null || true
  zfsfuse_stop
}
trap cleanup EXIT

IMG="$WORK/pool.img"
truncate -s $(( (SIZE_MB * 3 / 2 + 256) * 1024 * 1024 )) "$IMG"
"$ZPOOL" create -f -m "$WORK/mnt" "$POOL" "$IMG"
"$ZFS" create -o compression=lzjb "$POOL/data"
MNT="$WORK/mnt/data"
echo "filling $MNT with ~${SIZE_MB} MiB"
bench_fill "$MNT" "$SIZE_MB"
# the baseline txg: a synced property change, then the newest uberblock
"$ZFS" set kz:bench=base "$POOL"
T0=$(zdb -lu "$IMG" | awk '$1 == "txg" {print $3}' | sort -n | tail -1)
# modify 10 files (4 KiB in the middle of each), in 10 directories
python3 - "$MNT" <<'PY' > "$WORK/modified.txt"
import os, sys
root = sys.argv[1]
files = []
for d in sorted(os.listdir(root)):
    for f in sorted(os.listdir(os.path.join(root, d))):
        files.append(os.path.join(d, f)); break
    if len(files) == 10: break
for p in files:
    full = os.path.join(root, p)
    with open(full, 'r+b') as f:
        f.seek(os.path.getsize(full) // 2)
        f.write(os.urandom(4096))
    print("/" + p)
PY
"$ZFS" set kz:bench=after "$POOL"
"$ZPOOL" export "$POOL"
echo "baseline txg $T0; modified: $(wc -l < "$WORK/modified.txt") files"

drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
now() { date +%s.%N; }
A() { "$KZ" changes "$IMG" "$POOL/data" --since "$T0" --json > "$WORK/changes.json"; }
B() {
  "$KZ" manifest "$IMG" "$POOL/data" --txg "$T0" > "$WORK/m0.json"
  "$KZ" manifest "$IMG" "$POOL/data" > "$WORK/m1.json"
  "$KZ" manifest diff "$WORK/m0.json" "$WORK/m1.json" > "$WORK/diff.txt" || true
}
ratios=()
for r in $(seq "$RUNS"); do
  drop; t0=$(now); A; t1=$(now)
  drop; t2=$(now); B; t3=$(now)
  a=$(echo "$t1 - $t0" | bc); b=$(echo "$t3 - $t2" | bc)
  ratios+=("$(echo "scale=4; $a / $b" | bc)")
  echo "run $r: changes ${a}s, two manifests + diff ${b}s, ratio ${ratios[-1]}"
done
# the same answer?
python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
want = set(l.strip() for l in open(f"{w}/modified.txt"))
c = json.load(open(f"{w}/changes.json"))
got = set(x["path"] for x in c["changes"] if x["type"] == "file" and x["what"] != ["accessed"])
print(f"changes: {len(got)} files, the 10 modified: {got == want}; "
      f"{c['dnode_blocks']} dnode blocks, {c['indirect_blocks']} indirect blocks read, {c['pruned']} subtrees pruned")
sys.exit(0 if got == want else 1)
PY
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "dataset: $(du -h --apparent-size "$IMG" | cut -f1) image, ${SIZE_MB} MiB written"
echo "median ratio changes / (2 manifests + diff): ${median}x (target <= 0.1)"
