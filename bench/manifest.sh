#!/bin/bash
# Benchmark: `kzrescue manifest` of a >= 1 GiB dataset against
#   (a) `find -type f -exec sha256sum` over the same dataset mounted by zfs-fuse,
#   (b) `zdb -dddd` walking the same objects,
# on one pool made here with zfs-fuse (v23, lzjb), and the peak RSS of each.
#
# Usage: bench/manifest.sh [WORKDIR]        (needs root, FUSE, zfs-fuse unpacked
# in $ZFS_FUSE_ROOT (default /opt/zfs-fuse, see tests/run.sh), zdb, GNU time)
# A zfs-fuse daemon already running is used as is; otherwise one is started and
# stopped again by its pid. The pool is created, filled, measured, destroyed.
set -euo pipefail
ROOT=${ZFS_FUSE_ROOT:-/opt/zfs-fuse}
WORK=${1:-$(mktemp -d /tmp/kzbench.XXXXXX)}
SIZE_MB=${SIZE_MB:-1200}            # data written: > 1 GiB
POOL=kzbench$$
HERE=$(cd "$(dirname "$0")/.." && pwd)
KZ=${KZRESCUE:-$HERE/target/release/kzrescue}
ZPOOL="$ROOT/sbin/zpool"; ZFS="$ROOT/sbin/zfs"; DAEMON="$ROOT/sbin/zfs-fuse"
[ -x "$ZPOOL" ] || { echo "zfs-fuse not found in $ROOT (set ZFS_FUSE_ROOT)"; exit 2; }
[ -x "$KZ" ] || (cd "$HERE" && cargo build --release -q)
mkdir -p "$WORK"
started=""
if ! pgrep -x zfs-fuse >/dev/null; then
  "$DAEMON" --no-daemon --pidfile "$WORK/zfs-fuse.pid" >"$WORK/zfs-fuse.log" 2>&1 &
  started=$!
  sleep 2
fi
cleanup() {
  "$ZPOOL" destroy -f "$POOL" 2>/dev/null || true
  [ -n "$started" ] && kill "$started" 2>/dev/null && wait "$started" 2>/dev/null || true
}
trap cleanup EXIT

IMG="$WORK/pool.img"
truncate -s $(( (SIZE_MB * 3 / 2 + 256) * 1024 * 1024 )) "$IMG"
"$ZPOOL" create -f "$POOL" "$IMG"
"$ZFS" create -o compression=lzjb "$POOL/data"
MNT=$("$ZFS" get -H -o value mountpoint "$POOL/data")
echo "filling $MNT with ~${SIZE_MB} MiB (big, medium and small files, half compressible)"
python3 - "$MNT" "$SIZE_MB" <<'PY'
import os, sys
root, total = sys.argv[1], int(sys.argv[2]) << 20
rnd = open('/dev/urandom', 'rb')
written, i = 0, 0
sizes = [64 << 20, 8 << 20, 1 << 20, 128 << 10, 4 << 10]
while written < total:
    sz = sizes[i % len(sizes)]
    d = os.path.join(root, f"d{i % 37}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}"), 'wb') as f:
        left = sz
        while left:
            n = min(left, 1 << 20)
            f.write(rnd.read(n) if i % 2 else (b"kzrescue bench %d " % i) * (n // 20) + b"x" * (n % 20 if n >= 20 else n))
            left -= n
    written += sz; i += 1
PY
sync
# Drop the page cache between runs so each reads from the image.
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }

drop
t0=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$WORK/find.rss" sh -c "cd '$MNT' && find . -type f -exec sha256sum {} + > '$WORK/find.sums'"
t1=$(date +%s.%N)
FIND_S=$(echo "$t1 - $t0" | bc)

"$ZPOOL" export "$POOL"
drop
t0=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$WORK/kz.rss" "$KZ" manifest "$IMG" "$POOL/data" > "$WORK/manifest.json"
t1=$(date +%s.%N)
KZ_S=$(echo "$t1 - $t0" | bc)

drop
t0=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$WORK/zdb.rss" zdb -e -p "$WORK" "$POOL/data" -dddd > "$WORK/zdb.out" 2>&1 || true
t1=$(date +%s.%N)
ZDB_S=$(echo "$t1 - $t0" | bc)

# The same files and hashes?
python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
m = json.load(open(f"{w}/manifest.json"))
ours = {e["path"]: e["sha256"] for e in m["entries"] if e["type"] == "file"}
theirs = {}
for line in open(f"{w}/find.sums"):
    h, p = line.rstrip("\n").split("  ", 1)
    theirs[p[1:]] = h
same = sum(1 for p, h in theirs.items() if ours.get(p) == h)
print(f"files: zfs-fuse {len(theirs)}, kzrescue {len(ours)}, identical SHA-256: {same}")
sys.exit(0 if same == len(theirs) == len(ours) else 1)
PY
BYTES=$(python3 -c "import json;print(sum(e['size'] for e in json.load(open('$WORK/manifest.json'))['entries'] if e['type']=='file'))")
echo "dataset bytes hashed: $BYTES"
echo "find+sha256sum over zfs-fuse mount: ${FIND_S}s, peak RSS $(cat "$WORK/find.rss") KiB"
echo "kzrescue manifest:                 ${KZ_S}s, peak RSS $(cat "$WORK/kz.rss") KiB"
echo "zdb -dddd (object walk):           ${ZDB_S}s, peak RSS $(cat "$WORK/zdb.rss") KiB"
echo "speed-up vs zfs-fuse: $(echo "scale=2; $FIND_S / $KZ_S" | bc)x;  vs zdb -dddd: $(echo "scale=2; $ZDB_S / $KZ_S" | bc)x"
[ "$(cat "$WORK/kz.rss")" -le $((256 * 1024)) ] || { echo "peak RSS above 256 MiB"; exit 1; }
