#!/bin/bash
# Benchmark: `kzrescue manifest` of file systems of many small files, made by
# the tests' synthetic pool writer (bench/synth_many.rs): peak RSS (target
# <= 64 MiB at 1 000 000 files) and wall time per file at each size (linear
# in the file count when the per-file time stays flat).
#
# Usage: bench/manifest-many.sh [N ...]   (default: 250000 500000 1000000)
# Needs GNU time; ~1.2 KB of image per file in $WORK (default /var/tmp).
# With KZ_BEFORE=<binary> a second kzrescue is measured on the same images.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then SIZES=("$@"); else SIZES=(250000 500000 1000000); fi
WORK=$(mktemp -d "${WORK_DIR:-/var/tmp}/kzmany.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cargo build --release --quiet
cargo build --release --quiet --example synth-many
KZ=${KZRESCUE:-$PWD/target/release/kzrescue}
GEN=$PWD/target/release/examples/synth-many
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
for n in "${SIZES[@]}"; do
  img=$WORK/many-$n.img
  "$GEN" "$img" "$n"
  cat "$img" > /dev/null   # warm: the file count is measured, not the disk
  for b in "$KZ" ${KZ_BEFORE:+"$KZ_BEFORE"}; do
    /usr/bin/time -f "%e %M" -o "$WORK/t" "$b" manifest "$img" synth > "$WORK/m.json" 2> "$WORK/err" ||
      { echo "manifest failed: $(head -3 "$WORK/err")"; exit 1; }
    read -r secs rss < "$WORK/t"
    entries=$(grep -c '"path"' "$WORK/m.json")
    python3 - "$b" "$n" "$secs" "$rss" "$entries" <<'PY'
import sys
b, n, secs, rss, entries = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ok = "ok" if rss <= 64 * 1024 else "MISSED"
print(f"{n:>8} files ({entries} entries): {secs:7.2f} s, {secs / n * 1e6:6.2f} us/file, "
      f"peak RSS {rss / 1024:7.1f} MiB (target <= 64 MiB: {ok})  [{b}]")
PY
  done
  rm -f "$img"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
