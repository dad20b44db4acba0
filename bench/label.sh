#!/bin/bash
# Benchmark: `kzrescue label` vs `zdb -l` on a 1 GiB pool image, wall time and
# peak RSS, in one run, and the start-up cost: `kzrescue --version` vs
# `/bin/true`. Targets: label ≤ 0.10 × zdb's wall time, ≤ 16 MiB RSS;
# --version ≤ 1.3 × /bin/true.
#
# Usage: bench/label.sh [RUNS]     (default 30 runs of each, page cache warm)
#
# The image: the OpenZFS test-suite pool zfs-pool-v15.dat (SPARC, 64 MiB,
# from the zfs-test package) grown to 1 GiB: its end labels are rewritten at
# the new end, each vdev_phys and uberblock slot re-sealed for its new offset
# by an independent Python implementation of the label checksum. Both tools
# then see four valid labels on a 1 GiB vdev.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-30}
command -v zdb >/dev/null || { echo "zdb missing (Debian package zfsutils-linux)"; exit 2; }
SRC=/usr/share/zfs/zfs-tests/tests/functional/cli_root/zpool_upgrade/blockfiles/zfs-pool-v15.dat.bz2
[ -f "$SRC" ] || { echo "$SRC missing (Debian package zfs-test)"; exit 2; }
BIN=${KZRESCUE:-$PWD/target/release/kzrescue}
[ -n "${KZRESCUE:-}" ] || cargo build --release --quiet
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
bzip2 -dc "$SRC" > "$WORK/v15.dat"
python3 - "$WORK/v15.dat" "$WORK/pool-1g.dat" <<'EOF'
import hashlib, struct, sys
src, dst = sys.argv[1], sys.argv[2]
L, SIZE = 256 * 1024, 1 << 30
data = open(src, "rb").read()
MAGIC = 0x0210DA7AB10C7A11

def seal(block, off):
    """Re-seal a block that already carries an eck trailer for offset `off`."""
    b = bytearray(block)
    m = b[-40:-32]
    fmt = ">Q" if m == struct.pack(">Q", MAGIC) else "<Q" if m == struct.pack("<Q", MAGIC) else None
    if fmt is None:
        return bytes(b)
    b[-32:] = struct.pack(fmt, off) + bytes(24)
    d = hashlib.sha256(b).digest()
    words = struct.unpack(">4Q", d)
    b[-32:] = b"".join(struct.pack(fmt, w) for w in words)
    return bytes(b)

with open(dst, "wb") as f:
    f.truncate(SIZE)
    f.write(data[: len(data) - 2 * L])
    for new, old in ((SIZE - 2 * L, 0), (SIZE - L, L)):
        lab = bytearray(data[old:old + L])
        lab[16384:131072] = seal(lab[16384:131072], new + 16384)
        for s in range(128):
            o = 131072 + s * 1024
            lab[o:o + 1024] = seal(lab[o:o + 1024], new + o)
        f.seek(new)
        f.write(lab)
EOF
IMG=$WORK/pool-1g.dat
echo "image: $(stat -c %s "$IMG") bytes (1 GiB), zfs-pool-v15 grown"
# How the binary is linked decides most of the start-up (.cargo/config.toml).
if readelf -l "$BIN" 2>/dev/null | grep -q 'Requesting program interpreter'; then
  echo "binary: dynamically linked (ld.so runs before main)"
else
  echo "binary: statically linked (no dynamic loader)"
fi
"$BIN" label "$IMG" > "$WORK/k.txt" || { echo "kzrescue label failed"; exit 1; }
grep -q 'checksums = 0:valid(big) 1:valid(big) 2:valid(big) 3:valid(big)' "$WORK/k.txt" \
  || { echo "expected four valid labels"; cat "$WORK/k.txt"; exit 1; }
TZ=UTC zdb -l "$IMG" > "$WORK/z.txt"
grep -Ev '^\s*(checksums|error|disagree|active) = ' "$WORK/k.txt" | cmp -s - "$WORK/z.txt" \
  || { echo "outputs differ"; exit 1; }

rss() {  # peak RSS in KiB
  /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {print $2}'
}
KR=$(rss "$BIN" label "$IMG"); ZR=$(rss zdb -l "$IMG")
KUR=$(rss "$BIN" uberblocks "$IMG"); ZUR=$(rss zdb -lu "$IMG")
# Wall time: the two tools alternate run by run (the machine may be shared,
# so both see the same load); medians and minima are reported.
python3 - "$RUNS" "$BIN" "$IMG" "$KR" "$ZR" "$KUR" "$ZUR" <<'EOF'
import os, statistics, subprocess, sys, time
runs, binp, img = int(sys.argv[1]), sys.argv[2], sys.argv[3]
kr, zr, kur, zur = (float(x) / 1024 for x in sys.argv[4:8])
env = dict(os.environ, TZ="UTC")
def one(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, env=env, check=False)
    return time.perf_counter() - t
pairs = {"label": ([binp, "label", img], ["zdb", "-l", img]),
         "uberblocks": ([binp, "uberblocks", img], ["zdb", "-lu", img]),
         "--version": ([binp, "--version"], ["/bin/true"])}
res = {}
for name, (k, z) in pairs.items():
    one(k); one(z)
    ks, zs, rs = [], [], []
    for _ in range(runs if name != "--version" else 5 * runs):
        ks.append(one(k)); zs.append(one(z)); rs.append(ks[-1] / zs[-1])
    res[name] = (statistics.median(ks), min(ks), statistics.median(zs), min(zs), statistics.median(rs))
print(f"runs each: {runs} (alternating), load average {os.getloadavg()[0]:.1f}")
for name, (km, kmin, zm, zmin, rm) in res.items():
    if name == "--version":
        print(f"kzrescue --version   median {km*1000:7.2f} ms  min {kmin*1000:7.2f} ms")
        print(f"/bin/true            median {zm*1000:7.2f} ms  min {zmin*1000:7.2f} ms")
        print(f"  ratio kzrescue --version / true: median of pairs {rm:.3f}, min {kmin/zmin:.3f}   (target <= 1.3)")
        continue
    zname = "zdb -l" if name == "label" else "zdb -lu"
    krss, zrss = (kr, zr) if name == "label" else (kur, zur)
    print(f"kzrescue {name:<11} median {km*1000:7.2f} ms  min {kmin*1000:7.2f} ms  peak RSS {krss:6.2f} MiB")
    print(f"{zname:<20} median {zm*1000:7.2f} ms  min {zmin*1000:7.2f} ms  peak RSS {zrss:6.2f} MiB")
    print(f"  ratio kzrescue/zdb: median of pairs {rm:.3f}, min {kmin/zmin:.3f}"
          + ("   (target <= 0.10; RSS target <= 16 MiB: " + ("ok" if krss <= 16 else "MISSED") + ")" if name == "label" else ""))
EOF
