#!/bin/bash
# Wall time of a full local phys_path repair on a file image, fsyncs included,
# and of the liveness check's ring reads. Uses the committed x86 512-byte GPT
# fixture (a 72 MiB disk, rpool in s1) and the release binary.
#
#   bash bench/repair.sh [RUNS] [DIR]
#
# DIR (default: a fresh directory under /var/tmp, i.e. a real disk file system
# rather than tmpfs, so that fsync costs what it costs) holds the image and
# the journals. Each run: restore the pristine image, then time
#   kzrescue physpath set IMG --device-id 0 --write --liveness-interval 0
# (open, read and check all labels, plan, write + fsync the undo journal and
# its directory, write L0+L2, fsync, read back, write L1+L3, fsync, read back,
# re-read every label to verify). The liveness check's two reads of the four
# 128 KiB uberblock rings are timed inside kzrescue and reported separately
# (the 3 s wait between them is not counted).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20}
if [ -n "${2:-}" ]; then DIR=$2; CREATED=; else DIR=$(mktemp -d /var/tmp/kzrescue-bench.XXXXXX); CREATED=1; fi
K=target/release/kzrescue
[ -x "$K" ] || cargo build --release -q
zstd -qdc testimages/gptdisk-x86-512.img.zst > "$DIR/pristine.img"
echo "image: $DIR/pristine.img ($(stat -c %s "$DIR/pristine.img") bytes) on $(df -T "$DIR" | awk 'NR==2 {print $2}')"
walls=(); applies=(); reads=()
for i in $(seq 1 "$RUNS"); do
  cp "$DIR/pristine.img" "$DIR/disk.img"; sync
  rm -f "$DIR/j.kzj"
  t0=$(date +%s%N)
  out=$("$K" physpath set "$DIR/disk.img" --device-id 0 --write --liveness-interval 0 \
        --journal "$DIR/j.kzj" --json)
  t1=$(date +%s%N)
  walls+=("$(( (t1 - t0) / 1000 ))")
  applies+=("$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["timing_ms"]["journal_write_flush_readback"]*1000))')")
  reads+=("$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin)["liveness"]; print(round((d["first_read_ms"]+d["second_read_ms"])*500))')")
done
stats() { # name microseconds...
  local name=$1; shift
  printf '%s\n' "$@" | sort -n | awk -v n="$name" '{a[NR]=$1} END {printf "%-44s median %7.2f ms  min %7.2f ms  max %7.2f ms  (%d runs)\n", n, a[int((NR+1)/2)]/1000, a[1]/1000, a[NR]/1000, NR}'
}
stats "full repair, process wall time" "${walls[@]}"
stats "  of which journal+writes+fsyncs+read-back" "${applies[@]}"
stats "liveness: one read of all 4 rings" "${reads[@]}"
# The image really was repaired, and stays importable where zdb exists.
if command -v zdb > /dev/null; then
  mkdir -p "$DIR/z"
  dd if="$DIR/disk.img" of="$DIR/z/v" bs=512 skip=2304 count=147456 status=none
  zdb -e -p "$DIR/z" -u rpool > /dev/null && echo "zdb -e imports the repaired image"
fi
rm -f "$DIR/pristine.img" "$DIR/disk.img" "$DIR/j.kzj" "$DIR/z/v"
[ -z "$CREATED" ] || rm -rf "$DIR"
