#!/bin/bash
# Sequential read of a 1 GiB LUN over loopback: kzrescue's initiator vs
# libiscsi's iscsi-perf against the same tgtd in one run, plus label-read
# latency over iSCSI. Usage: bench/iscsi.sh [seconds-per-perf-run] (default 5)
# The peer in each round is the faster of two iscsi-perf runs: 128 KiB
# requests (the size kzrescue uses) and 256 KiB (tgt's MaxBurstLength), 32 in
# flight each.
# Each round also gives each client's CPU seconds (user + system, of the
# process and its children) per GiB it moved: on a shared machine that is
# steadier than throughput, which the load moves. For iscsi-perf the GiB are
# its reported rate times the run's length. It also gives the CPU seconds
# per GiB of tgtd's main thread (the one that receives commands and sends
# Data-In): on a 2-core machine that thread is busy nearly all the time, so
# it is what sets the rate, and a client that makes it work harder per GiB
# is slower. KZ_BEFORE=<binary> adds a second kzrescue (an earlier build) to
# every round, against the same peer.
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
# CPU ticks (user + system) of tgtd's main thread so far.
tgtd_ticks() { awk '{print $14 + $15}' "/proc/$TGTD/task/$TGTD/stat"; }
TCK=$(getconf CLK_TCK)
# Each prints "MiB/s client-CPU-seconds-per-GiB tgtd-main-thread-CPU-seconds-per-GiB".
ours() {
  # Whole LUN as one stream, kzrescue's own READ(16) size and depth (an
  # earlier build without streams reads 64 MiB per read_at).
  # $1: the binary (default $K).
  local rate cpu t0 t1
  t0=$(tgtd_ticks)
  rate=$(/usr/bin/time -f "%U %S" -o "$W/cpu" "${1:-$K}" iscsi read --discard --chunk 67108864 "$URI" 2>&1 |
    sed -n 's/.*(\(.*\) MiB\/s)/\1/p')
  t1=$(tgtd_ticks)
  cpu=$(tail -1 "$W/cpu" | awk '{print $1 + $2}')  # GNU time may add an "exited with" line first
  python3 -c "print('$rate', '%.3f' % $cpu, '%.3f' % (($t1 - $t0) / $TCK))" 2>/dev/null || echo "nan nan nan"
}
theirs() {
  # $1 blocks (of 512 bytes) per request, 32 in flight, sequential, $SECS s.
  # iscsi-perf's "MB/s" is IOPS x request size / 2^20, i.e. MiB/s.
  local rate cpu t0 t1
  t0=$(tgtd_ticks)
  rate=$(/usr/bin/time -f "%U %S" -o "$W/cpu" timeout -s INT "$SECS" iscsi-perf -b "$1" -m 32 "iscsi://127.0.0.1:$PORT/$IQN/1" 2>&1 |
    tr '\r' '\n' | grep -o 'iops average [0-9]* ([0-9]* MB/s)' | tail -1 |
    sed -n 's/.*(\([0-9]*\) MB.*/\1/p' || true)
  t1=$(tgtd_ticks)
  cpu=$(tail -1 "$W/cpu" | awk '{print $1 + $2}')  # GNU time may add an "exited with" line first
  python3 -c "g = $rate * $SECS / 1024; print('$rate', '%.3f' % ($cpu / g), '%.3f' % (($t1 - $t0) / $TCK / g))" 2>/dev/null || echo "nan nan nan"
}
# Warm tgtd first: a freshly started tgtd serves its first few GiB at
# about half its later rate, whichever client asks (its main thread spent
# 1.6-1.7 s of CPU per GiB on the first three runs of round 1 against
# 0.75-1.0 in rounds 2-5, for kzrescue and iscsi-perf alike), which made
# round 1 a measure of who came first. One untimed pass of each client at
# each size, then the rounds.
ours >/dev/null
[ -z "${KZ_BEFORE:-}" ] || ours "$KZ_BEFORE" >/dev/null
theirs 256 >/dev/null
theirs 512 >/dev/null
# The machine is shared: alternate the two, five rounds, report the median ratio.
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
ratios=(); cpu_ours=(); cpu_theirs=(); tg_ours=(); tg_theirs=(); ratios_b=(); cpu_b=(); tg_b=()
for round in 1 2 3 4 5; do
  if [ -n "${KZ_BEFORE:-}" ]; then
    # another kzrescue (an earlier build) in the same round, same peer
    read -r ob cb gb < <(ours "$KZ_BEFORE")
  fi
  read -r o co go < <(ours); read -r t1 c1 g1 < <(theirs 256); read -r t2 c2 g2 < <(theirs 512)
  t=$(python3 -c "print(max($t1, $t2))" 2>/dev/null || echo nan)
  ct=$(python3 -c "print($c1 if $t1 >= $t2 else $c2)" 2>/dev/null || echo nan)
  gt=$(python3 -c "print($g1 if $t1 >= $t2 else $g2)" 2>/dev/null || echo nan)
  r=$(python3 -c "print('%.2f' % ($o / $t))" 2>/dev/null || echo nan)
  ratios+=("$r"); cpu_ours+=("$co"); cpu_theirs+=("$ct"); tg_ours+=("$go"); tg_theirs+=("$gt")
  echo "round $round: kzrescue $o MiB/s (whole 1 GiB LUN, CPU $co s/GiB, tgtd $go s/GiB), iscsi-perf $t1 MiB/s (128 KiB, CPU $c1 s/GiB, tgtd $g1 s/GiB) $t2 MiB/s (256 KiB, CPU $c2 s/GiB, tgtd $g2 s/GiB) (${SECS}s each), ratio to the faster $r"
  if [ -n "${KZ_BEFORE:-}" ]; then
    rb=$(python3 -c "print('%.2f' % ($ob / $t))" 2>/dev/null || echo nan)
    ratios_b+=("$rb"); cpu_b+=("$cb"); tg_b+=("$gb")
    echo "         KZ_BEFORE $ob MiB/s (CPU $cb s/GiB, tgtd $gb s/GiB), ratio to the same iscsi-perf $rb"
  fi
done
med() { python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:] if x!='nan']; print('%.2f (min %.2f, max %.2f)' % (statistics.median(v), min(v), max(v)) if v else 'nan')" "$@"; }
echo "median ratio kzrescue/iscsi-perf = $(med "${ratios[@]}")"
echo "client CPU s/GiB, median: kzrescue $(med "${cpu_ours[@]}"); iscsi-perf (the faster run) $(med "${cpu_theirs[@]}")"
echo "tgtd main thread CPU s/GiB, median: serving kzrescue $(med "${tg_ours[@]}"); serving iscsi-perf (the faster run) $(med "${tg_theirs[@]}")"
if [ -n "${KZ_BEFORE:-}" ]; then
  echo "KZ_BEFORE: median ratio $(med "${ratios_b[@]}"), CPU s/GiB $(med "${cpu_b[@]}"), tgtd s/GiB $(med "${tg_b[@]}")"
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
