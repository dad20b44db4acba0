#!/bin/bash
# Benchmark: `kzrescue scan` of a 2 GiB disk image against the physical floor
# `cat IMG > /dev/null`, in one run; peak RSS; and time against device size
# (the same scan of the image's first 1 GiB). Targets (issue 15): scan ≥ 0.9×
# cat's bandwidth, peak RSS < 64 MiB, time linear in the device size.
#
# Usage: bench/scan.sh [RUNS]      (default 3 runs of each, alternating)
#
# The image: 2 GiB of random bytes (nothing compresses, nothing is sparse)
# holding real pools from testimages/: the x86 GPT disk at byte 0 and mirror
# child b at 1 GiB + 7 sectors (a vdev at an odd sector), so that the scan has
# real labels to verify. Both tools read the same file; the page cache is
# dropped before every run when we may (root), so both read from the device;
# otherwise both read warm.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
cargo build --release --quiet
BIN=$PWD/target/release/kzrescue
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
IMG=$WORK/disk-2g.img
HALF=$WORK/disk-1g.img
head -c $((2 << 30)) /dev/urandom > "$IMG"
zstd -dqc testimages/gptdisk-x86-512.img.zst | dd of="$IMG" conv=notrunc status=none
zstd -dqc testimages/gptmirror-b.img.zst | dd of="$IMG" bs=512 seek=$(((1 << 21) + 7)) conv=notrunc status=none
head -c $((1 << 30)) "$IMG" > "$HALF"
"$BIN" scan "$IMG" --json > "$WORK/scan.json" || true
python3 - "$WORK/scan.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
starts = sorted(v["start"] for v in r["vdevs"])
want = [1179648, (1 << 30) + 7 * 512 + 1179648]
assert starts == want, f"scan found vdevs at {starts}, expected {want}"
assert all(v["labels"] == [0, 1, 2, 3] for v in r["vdevs"]), r["vdevs"]
print(f"scan found {len(starts)} vdevs at {starts} (4 labels each), {r['candidates']} candidates, {r['hashed']} hashed")
EOF
python3 - "$RUNS" "$BIN" "$IMG" "$HALF" <<'EOF'
import os, statistics, subprocess, sys, time
runs, binp, img, half = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def drop():
    try:
        subprocess.run(["sync"], check=False)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False
cold = drop()
def one(cmd):
    drop()
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t
def rss(cmd):
    drop()
    o = subprocess.run(["/usr/bin/time", "-v"] + cmd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True).stderr
    return next(int(l.split(": ")[1]) for l in o.splitlines() if "Maximum resident" in l) / 1024
size = os.path.getsize(img)
cat = ["sh", "-c", f"cat '{img}' > /dev/null"]
scan = [binp, "scan", img]
scan_half = [binp, "scan", half]
t = {"cat": [], "scan": [], "scan1g": []}
for _ in range(runs):
    t["cat"].append(one(cat))
    t["scan"].append(one(scan))
    t["scan1g"].append(one(scan_half))
med = {k: statistics.median(v) for k, v in t.items()}
print(f"page cache: {'dropped before each run (cold reads)' if cold else 'warm (not root)'}; {runs} runs each, medians")
for k, cmd in (("cat", "cat IMG > /dev/null"), ("scan", "kzrescue scan IMG (2 GiB)"), ("scan1g", "kzrescue scan IMG1G (1 GiB)")):
    print(f"  {cmd:32s} {med[k]:7.3f} s  {size / (2 if k == 'scan1g' else 1) / med[k] / 2**20:8.1f} MiB/s  (runs: {', '.join(f'{x:.3f}' for x in t[k])})")
ratio = med["cat"] / med["scan"]
print(f"scan bandwidth / cat bandwidth = {ratio:.2f} (target >= 0.9)")
print(f"time(2 GiB) / time(1 GiB) = {med['scan'] / med['scan1g']:.2f} (linear: 2.0)")
r = rss(scan)
print(f"peak RSS of kzrescue scan (2 GiB): {r:.1f} MiB (target < 64 MiB); of cat: {rss(cat):.1f} MiB")
EOF
