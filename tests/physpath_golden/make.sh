#!/bin/bash
# Regenerates the phys_path repair goldens from the committed fixtures, with
# the real zdb as the judge. Run from the crate root after `cargo build`:
#   bash tests/physpath_golden/make.sh
# For each case: unpack the fixture disk(s); step 1 makes the labels look like
# a global-zone import (MPxIO path/devid/phys_path, verbatim mode); step 2 is
# the kernel-zone repair (--device-id). After each step it records the disk's
# SHA-256, and `zdb -l` of the pool slice; it checks that `zdb -e` imports the
# pool and that every label alone (the other three nvlists zeroed) imports.
set -euo pipefail
K=${K:-target/debug/kzrescue}
G=tests/physpath_golden
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
WWN=600144f0a613c900000054521d550001
WWN2=600144f0a613c900000054521d550002

slice_of() { # disk name -> "start len"
  awk -v n="$1" '$1==n {print $3, $4}' testimages/SLICES
}

check() { # case step disks...
  local c=$1 s=$2; shift 2
  rm -rf "$T/z"; mkdir "$T/z"
  local i=0
  for d in "$@"; do
    read -r start len < <(slice_of "$(basename "$d")")
    dd if="$d" of="$T/z/vdev$i" bs=512 skip=$((start/512)) count=$((len/512)) status=none
    zdb -l "$T/z/vdev$i" > "$G/$c.$s.disk$i.zdb-l.txt"
    sha256sum < "$d" | cut -d' ' -f1 > "$G/$c.$s.disk$i.sha256"
    i=$((i+1))
  done
  zdb -e -p "$T/z" -u rpool > /dev/null || { echo "$c $s: zdb -e FAILED"; exit 1; }
  if [ $# -eq 1 ]; then
    for l in 0 1 2 3; do
      rm -rf "$T/a"; mkdir "$T/a"; cp "$T/z/vdev0" "$T/a/v"
      python3 - "$T/a/v" $l <<'PY'
import os, sys
p, keep = sys.argv[1], int(sys.argv[2])
ps = os.path.getsize(p) & ~(256*1024-1)
f = open(p, 'r+b')
for i, o in enumerate([0, 256*1024, ps-512*1024, ps-256*1024]):
    if i != keep:
        f.seek(o + 16384); f.write(b'\0' * 114688)
PY
      zdb -e -p "$T/a" -u rpool > /dev/null || { echo "$c $s: label $l alone does not import"; exit 1; }
    done
  fi
  echo "$c $s: zdb -e imports$([ $# -eq 1 ] && echo ', each label alone imports')"
}

one() { # case fixture slice-letter slice zone-args...
  local c=$1 f=$2 l=$3 n=$4; shift 4
  zstd -qdc "testimages/$f.zst" > "$T/$f"
  $K physpath set "$T/$f" --phys-path "/scsi_vhci/disk@g$WWN:$l" \
     --path "/dev/dsk/c0t${WWN^^}d0s$n" --devid "id1,sd@n$WWN/$l" \
     --write --liveness-interval 0 --journal "$T/$c.1.kzj" > /dev/null
  check "$c" global "$T/$f"
  $K physpath set "$T/$f" "$@" --write --liveness-interval 0 --journal "$T/$c.2.kzj" > /dev/null
  check "$c" zone "$T/$f"
}

direct() { # case fixture: the repair straight from the pristine fixture
  local c=$1 f=$2
  zstd -qdc "testimages/$f.zst" > "$T/$f"
  $K physpath set "$T/$f" --device-id 0 --write --liveness-interval 0 --journal "$T/$c.d.kzj" > /dev/null
  check "$c" direct "$T/$f"
}

direct x86-512 gptdisk-x86-512.img
direct x86-4k gptdisk-x86-4k.img
one x86-512 gptdisk-x86-512.img b 1 --device-id 0 --path /dev/dsk/c1d0s1 --clear-devid
one x86-4k gptdisk-x86-4k.img b 1 --device-id 0
one sparc-512 gptdisk-sparc-512.img a 0 --device-id 12 --path /dev/dsk/c1d12s0

# The mirror: both disks, every child in every label of both.
A=gptmirror-a.img; B=gptmirror-b.img
zstd -qdc "testimages/$A.zst" > "$T/$A"; zstd -qdc "testimages/$B.zst" > "$T/$B"
$K physpath set "$T/$A" "$T/$B" \
   --phys-path "/scsi_vhci/disk@g$WWN:b" --phys-path "/scsi_vhci/disk@g$WWN2:b" \
   --path "/dev/dsk/c0t${WWN^^}d0s1" --path "/dev/dsk/c0t${WWN2^^}d0s1" \
   --devid "id1,sd@n$WWN/b" --devid "id1,sd@n$WWN2/b" \
   --write --liveness-interval 0 --journal "$T/m.1.kzj" > /dev/null
check mirror global "$T/$A" "$T/$B"
$K physpath set "$T/$A" "$T/$B" --device-id 0 --device-id 1 \
   --path /dev/dsk/c1d0s1 --path /dev/dsk/c1d1s1 --clear-devid \
   --write --liveness-interval 0 --journal "$T/m.2.kzj" > /dev/null
check mirror zone "$T/$A" "$T/$B"
