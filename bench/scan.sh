#!/bin/bash
# Benchmark: `kzrescue scan` of a 2 GiB disk image against the physical floor
# `cat IMG > /dev/null`, in one run; peak RSS; time against device size (the
# same scan of the image's first 0.5 and 1 GiB: seconds per GiB of each,
# and their ratio); and `kzrescue scan` of a 1 GiB iSCSI LU served by tgtd on
# 127.0.0.1 against `kzrescue iscsi read --discard` of the same LU (the
# initiator's own floor). Targets (issue 15): scan ≥ 0.9× the bandwidth of
# its peer, peak RSS < 64 MiB, time linear in the device size.
#
# Wall time is sensitive to whatever else runs on the machine; the CPU time
# (user + system) each tool spends per GiB, read from a warm page cache, is
# much less so: it is printed for both sides too, with the load average.
#
# Usage: bench/scan.sh [RUNS]      (default 3 runs of each, alternating)
# The iSCSI part needs tgt (tgtd, tgtadm) and root; it is skipped without.
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
QUARTER=$WORK/disk-512m.img
head -c $((2 << 30)) /dev/urandom > "$IMG"
zstd -dqc testimages/gptdisk-x86-512.img.zst | dd of="$IMG" conv=notrunc status=none
zstd -dqc testimages/gptmirror-b.img.zst | dd of="$IMG" bs=512 seek=$(((1 << 21) + 7)) conv=notrunc status=none
head -c $((1 << 30)) "$IMG" > "$HALF"
head -c $((1 << 29)) "$IMG" > "$QUARTER"
"$BIN" scan "$IMG" --json --json-int > "$WORK/scan.json" || true
python3 - "$WORK/scan.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
starts = sorted(v["start"] for v in r["vdevs"])
want = [1179648, (1 << 30) + 7 * 512 + 1179648]
assert starts == want, f"scan found vdevs at {starts}, expected {want}"
assert all(v["labels"] == [0, 1, 2, 3] for v in r["vdevs"]), r["vdevs"]
print(f"scan found {len(starts)} vdevs at {starts} (4 labels each), {r['candidates']} candidates, {r['hashed']} hashed")
EOF
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"
python3 - "$RUNS" "$BIN" "$IMG" "$HALF" "$QUARTER" <<'EOF'
import os, resource, statistics, subprocess, sys, time
runs, binp, img, half, quarter = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
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
scan_quarter = [binp, "scan", quarter]
t = {"cat": [], "scan": [], "scan1g": [], "scan512m": []}
for _ in range(runs):
    t["cat"].append(one(cat))
    t["scan"].append(one(scan))
    t["scan1g"].append(one(scan_half))
    t["scan512m"].append(one(scan_quarter))
med = {k: statistics.median(v) for k, v in t.items()}
gib = {"cat": 2, "scan": 2, "scan1g": 1, "scan512m": 0.5}
print(f"page cache: {'dropped before each run (cold reads)' if cold else 'warm (not root)'}; {runs} runs each, medians")
for k, cmd in (("cat", "cat IMG > /dev/null (2 GiB)"), ("scan", "kzrescue scan IMG (2 GiB)"), ("scan1g", "kzrescue scan IMG1G (1 GiB)"), ("scan512m", "kzrescue scan IMG512M (0.5 GiB)")):
    print(f"  {cmd:32s} {med[k]:7.3f} s  {gib[k] * 1024 / med[k]:8.1f} MiB/s  {med[k] / gib[k]:6.3f} s/GiB  (runs: {', '.join(f'{x:.3f}' for x in t[k])})")
ratio = med["cat"] / med["scan"]
print(f"scan bandwidth / cat bandwidth = {ratio:.2f} (target >= 0.9)")
per = [med[k] / gib[k] for k in ("scan512m", "scan1g", "scan")]
print(f"seconds per GiB at 0.5 / 1 / 2 GiB: {per[0]:.3f} / {per[1]:.3f} / {per[2]:.3f}; 2 GiB vs 0.5 GiB per-GiB ratio = {per[2] / per[0]:.2f} (linear: 1.0)")
r = rss(scan)
print(f"peak RSS of kzrescue scan (2 GiB): {r:.1f} MiB (target < 64 MiB); of cat: {rss(cat):.1f} MiB")
def cpu(cmd):
    """User + system seconds of `cmd` reading a warm page cache."""
    subprocess.run(["sh", "-c", f"cat '{img}' > /dev/null"], check=False)
    a = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (b.ru_utime - a.ru_utime) + (b.ru_stime - a.ru_stime)
c = {"cat": [], "scan": []}
for _ in range(runs):
    c["cat"].append(cpu(cat))
    c["scan"].append(cpu(scan))
cm = {k: statistics.median(v) / 2 for k, v in c.items()}
print(f"CPU (user+sys) per GiB, warm page cache, medians: cat {cm['cat']:.3f} s, scan {cm['scan']:.3f} s; scan/cat = {cm['scan'] / cm['cat']:.2f} (runs cat: {', '.join(f'{x:.2f}' for x in c['cat'])}; scan: {', '.join(f'{x:.2f}' for x in c['scan'])})")
print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")
EOF

# --- iSCSI: a 1 GiB LU (the image's first GiB, holding the x86 GPT disk's
# pool) served by tgtd on 127.0.0.1; scan of the LU vs the initiator reading
# the whole LU and discarding it, alternating, RUNS times.
if ! command -v tgtd >/dev/null || ! command -v tgtadm >/dev/null || [ "$(id -u)" != 0 ]; then
  echo "SKIPPED iSCSI part (needs root and Debian package tgt)"
  exit 0
fi
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
CTL=$((1000 + PORT % 31000))
tgtd -f -C "$CTL" --iscsi "portal=127.0.0.1:$PORT" >"$WORK/tgtd.log" 2>&1 &
TGTD=$!
cleanup() {
  tgtadm -C "$CTL" --lld iscsi --op delete --mode target --tid 1 --force >/dev/null 2>&1 || true
  tgtadm -C "$CTL" --op delete --mode system >/dev/null 2>&1 || true
  for _ in $(seq 50); do kill -0 "$TGTD" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$TGTD" 2>/dev/null || true
  wait "$TGTD" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 100); do tgtadm -C "$CTL" --op show --mode system >/dev/null 2>&1 && break; sleep 0.1; done
adm() { tgtadm -C "$CTL" --lld iscsi "$@"; }
ID=600144f0a613c900000054521d55be11
adm --op new --mode target --tid 1 -T iqn.2026-12.org.kzrescue.bench:scan
adm --op new --mode logicalunit --tid 1 --lun 1 -b "$HALF"
adm --op update --mode logicalunit --tid 1 --lun 1 --params "scsi_id=$ID"
adm --op bind --mode target --tid 1 -I ALL
URI="iscsi://127.0.0.1:$PORT/luname.naa.$ID"
cat "$HALF" >/dev/null # the LU file warm in the page cache for both
"$BIN" scan "$URI" --json --json-int >"$WORK/iscsi-scan.json" || true
python3 - "$WORK/iscsi-scan.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
starts = [v["start"] for v in r["vdevs"]]
assert starts == [1179648], f"scan over iSCSI found vdevs at {starts}"
print(f"iSCSI: scan found the vdev at {starts[0]} over the LU")
EOF
python3 - "$RUNS" "$BIN" "$URI" <<'EOF'
import resource, statistics, subprocess, sys, time
runs, binp, uri = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def one(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t
def rss(cmd):
    o = subprocess.run(["/usr/bin/time", "-v"] + cmd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True).stderr
    return next(int(l.split(": ")[1]) for l in o.splitlines() if "Maximum resident" in l) / 1024
read = [binp, "iscsi", "read", "--discard", uri]
scan = [binp, "scan", uri]
t = {"read": [], "scan": []}
for _ in range(runs):
    t["read"].append(one(read))
    t["scan"].append(one(scan))
med = {k: statistics.median(v) for k, v in t.items()}
print(f"iSCSI 1 GiB LU over 127.0.0.1 (tgtd, file warm), {runs} runs each, medians")
for k, cmd in (("read", "kzrescue iscsi read --discard URI"), ("scan", "kzrescue scan URI")):
    print(f"  {cmd:36s} {med[k]:7.3f} s  {1024 / med[k]:8.1f} MiB/s  (runs: {', '.join(f'{x:.3f}' for x in t[k])})")
print(f"scan bandwidth / iscsi read --discard bandwidth = {med['read'] / med['scan']:.2f} (target >= 0.9)")
print(f"peak RSS of kzrescue scan URI: {rss(scan):.1f} MiB (target < 64 MiB)")
def cpu(cmd):
    a = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (b.ru_utime - a.ru_utime) + (b.ru_stime - a.ru_stime)
c = {"read": [], "scan": []}
for _ in range(runs):
    c["read"].append(cpu(read))
    c["scan"].append(cpu(scan))
cm = {k: statistics.median(v) for k, v in c.items()}
print(f"CPU (user+sys) per GiB of the initiator, medians: iscsi read --discard {cm['read']:.3f} s, scan {cm['scan']:.3f} s; scan/read = {cm['scan'] / cm['read']:.2f}")
print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")
EOF
