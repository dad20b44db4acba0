#!/bin/bash
# Sequential read of a 1 GiB LUN over loopback: kzrescue's initiator vs
# libiscsi's iscsi-perf against the same tgtd in one run, plus label-read
# latency over iSCSI. Usage: bench/iscsi.sh [seconds-per-perf-run] (default 5)
# The peer in each round is the faster of two iscsi-perf runs: 128 KiB and
# 256 KiB requests (tgt's MaxBurstLength, the size kzrescue picks), 32 in
# flight each.
# Each round also gives each client's CPU seconds (user + system, of the
# process and its children) per GiB it moved: on a shared machine that is
# steadier than throughput, which the load moves. For iscsi-perf the GiB are
# its reported rate times the run's length. KZ_BEFORE=<binary> adds a second
# kzrescue (an earlier build) to every round, against the same peer.
# Needs: tgt (tgtd, tgtadm), libiscsi-bin (iscsi-perf), GNU time, a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SECS=${1:-5}
K=${KZRESCUE:-$PWD/target/release/kzrescue}
[ -n "${KZRESCUE:-}" ] || cargo build --release --quiet
W=$(mktemp -d)
trap 'tgtd_stop; rm -rf "$W"' EXIT
tgtd_start "$W"
adm() { tgt_adm "$@"; }
IQN=iqn.2026-11.org.kzrescue.bench:lun
ID=600144f0a613c900000054521d55be01
# 1 GiB of non-zero data (so nothing is a hole), cached after the first pass.
python3 - "$W/lun.img" <<'PY'
import sys, os
blk = os.urandom(1 << 20)
with open(sys.argv[1], "wb") as f:
    for i in range(1024):
        f.write(blk[i:] + blk[:i])
PY
adm --op new --mode target --tid 1 -T "$IQN"
adm --op new --mode logicalunit --tid 1 --lun 1 -b "$W/lun.img"
adm --op update --mode logicalunit --tid 1 --lun 1 --params "scsi_id=$ID"
adm --op bind --mode target --tid 1 -I ALL
URI="iscsi://127.0.0.1:$PORT/luname.naa.$ID"
cat "$W/lun.img" >/dev/null   # warm the page cache for both

echo "== tgtd $(tgtd -V 2>/dev/null || true) on 127.0.0.1:$PORT, 1 GiB LUN, $(nproc) CPUs"
# Each prints "MiB/s CPU-seconds-per-GiB".
ours() {
  # Whole LUN, 64 MiB per read_at, kzrescue's own READ(16) size and depth.
  # $1: the binary (default $K).
  local rate cpu
  rate=$(/usr/bin/time -f "%U %S" -o "$W/cpu" "${1:-$K}" iscsi read --discard --chunk 67108864 "$URI" 2>&1 |
    sed -n 's/.*(\(.*\) MiB\/s)/\1/p')
  cpu=$(tail -1 "$W/cpu" | awk '{print $1 + $2}')  # GNU time may add an "exited with" line first
  python3 -c "print('$rate', '%.3f' % $cpu)" 2>/dev/null || echo "nan nan"
}
theirs() {
  # $1 blocks (of 512 bytes) per request, 32 in flight, sequential, $SECS s.
  # iscsi-perf's "MB/s" is IOPS x request size / 2^20, i.e. MiB/s.
  local rate cpu
  rate=$(/usr/bin/time -f "%U %S" -o "$W/cpu" timeout -s INT "$SECS" iscsi-perf -b "$1" -m 32 "iscsi://127.0.0.1:$PORT/$IQN/1" 2>&1 |
    tr '\r' '\n' | grep -o 'iops average [0-9]* ([0-9]* MB/s)' | tail -1 |
    sed -n 's/.*(\([0-9]*\) MB.*/\1/p' || true)
  cpu=$(tail -1 "$W/cpu" | awk '{print $1 + $2}')  # GNU time may add an "exited with" line first
  python3 -c "print('$rate', '%.3f' % ($cpu / ($rate * $SECS / 1024)))" 2>/dev/null || echo "nan nan"
}
# The machine is shared: alternate the two, five rounds, report the median ratio.
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
ratios=(); cpu_ours=(); cpu_theirs=(); ratios_b=(); cpu_b=()
for round in 1 2 3 4 5; do
  if [ -n "${KZ_BEFORE:-}" ]; then
    # another kzrescue (an earlier build) in the same round, same peer
    read -r ob cb < <(ours "$KZ_BEFORE")
  fi
  read -r o co < <(ours); read -r t1 c1 < <(theirs 256); read -r t2 c2 < <(theirs 512)
  t=$(python3 -c "print(max($t1, $t2))" 2>/dev/null || echo nan)
  ct=$(python3 -c "print($c1 if $t1 >= $t2 else $c2)" 2>/dev/null || echo nan)
  r=$(python3 -c "print('%.2f' % ($o / $t))" 2>/dev/null || echo nan)
  ratios+=("$r"); cpu_ours+=("$co"); cpu_theirs+=("$ct")
  echo "round $round: kzrescue $o MiB/s (whole 1 GiB LUN, CPU $co s/GiB), iscsi-perf $t1 MiB/s (128 KiB, CPU $c1 s/GiB) $t2 MiB/s (256 KiB, CPU $c2 s/GiB) (${SECS}s each), ratio to the faster $r"
  if [ -n "${KZ_BEFORE:-}" ]; then
    rb=$(python3 -c "print('%.2f' % ($ob / $t))" 2>/dev/null || echo nan)
    ratios_b+=("$rb"); cpu_b+=("$cb")
    echo "         KZ_BEFORE $ob MiB/s (CPU $cb s/GiB), ratio to the same iscsi-perf $rb"
  fi
done
med() { python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:] if x!='nan']; print('%.2f (min %.2f, max %.2f)' % (statistics.median(v), min(v), max(v)) if v else 'nan')" "$@"; }
echo "median ratio kzrescue/iscsi-perf = $(med "${ratios[@]}")"
echo "client CPU s/GiB, median: kzrescue $(med "${cpu_ours[@]}"); iscsi-perf (the faster run) $(med "${cpu_theirs[@]}")"
if [ -n "${KZ_BEFORE:-}" ]; then
  echo "KZ_BEFORE: median ratio $(med "${ratios_b[@]}"), CPU s/GiB $(med "${cpu_b[@]}")"
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== label read latency over iSCSI (login, discovery, VPD search, 4 labels)"
bzip2 -dc /usr/share/zfs/zfs-tests/tests/functional/cli_root/zpool_upgrade/blockfiles/zfs-pool-v15.dat.bz2 >"$W/pool.img" 2>/dev/null || true
if [ -s "$W/pool.img" ]; then
  adm --op new --mode logicalunit --tid 1 --lun 2 -b "$W/pool.img"
  adm --op update --mode logicalunit --tid 1 --lun 2 --params "scsi_id=600144f0a613c900000054521d55be02"
  P="iscsi://127.0.0.1:$PORT/luname.naa.600144f0a613c900000054521d55be02"
  PT="iscsi://127.0.0.1:$PORT/target.$IQN,lun.2"
  SZ=$(stat -c %s "$W/pool.img")
  t() { local s=$(date +%s.%N); "$@" >/dev/null 2>&1 || echo "(exit $?)"; python3 -c "print('%.1f ms' % ((float('$(date +%s.%N)') - $s) * 1000))"; }
  if "$K" label --json "$P" >/dev/null 2>&1; then
    echo "kzrescue label --json <luname URI>:      $(t "$K" label --json "$P")"
    echo "kzrescue label --json <target,lun URI>:  $(t "$K" label --json "$PT")"
  else
    echo "(label does not take URIs on this build; timing the same four 256 KiB label reads)"
  fi
  echo "4 label reads, luname URI:     $(t sh -c "for o in 0 262144 $((SZ-524288)) $((SZ-262144)); do $K iscsi read --discard --offset \$o --length 262144 $P; done")  (4 logins)"
  echo "partitions --json, luname URI: $(t "$K" partitions --json "$P")"
  echo "partitions --json, target URI: $(t "$K" partitions --json "$PT")"
  echo "label --json on the file:      $(t "$K" label --json "$W/pool.img")"
fi
