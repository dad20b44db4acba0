#!/bin/bash
# Builds the GPT disk images: a Solaris-style EFI label (tools/solgpt.py) with
# a zfs-fuse v23 pool `rpool` created directly on the ZFS slice through a loop
# device over exactly that slice, so the leaf is type `disk` with a Linux
# device path, as on a real disk. A few files go in rpool/ROOT/solaris.
#   gptdisk-x86-512.img   512-byte sectors, s0 EFI System, s1 ZFS, s8 reserved; ashift 9
#   gptdisk-x86-4k.img    4096-byte sectors (4Kn), same slices; ashift 12
#   gptdisk-sparc-512.img 512-byte sectors, s0 ZFS, s8 reserved; ashift 9
#   gptmirror-a.img, gptmirror-b.img  x86-512 layout each; rpool is a two-way mirror of their s1
# Goldens: zdb -l/-lu of each extracted ZFS slice (<image>.<slice>.zdb-l.txt),
# zdb -e -d of the pool, the manifest of rpool/ROOT/solaris read through the
# mount (<image>.files.json), and SLICES (image, slice, byte offset, size).
#   sudo bash testimages/make-gptdisks.sh
. "$(dirname "$0")/lib.sh"
POP="python3 $TI/tools/populate.py"
MANIFEST="python3 $TI/tools/manifest.py"
ZFS_MIB=72
zfs_fuse_up
LOOPS=()
cleanup() {
  zp export rpool 2>/dev/null || true
  for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  zfs_fuse_down
}
trap cleanup EXIT

# slice_field JSON FIELD -> value of the ZFS slice's FIELD in solgpt's JSON
slice_field() {
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); p=[p for p in j["partitions"] if p["slice"]==j["zfs_slice"]][0]; print(p[sys.argv[2]] if sys.argv[2] in p else j[sys.argv[2]])' "$1" "$2"
}

# disk NAME SECTOR LAYOUT -> makes the labelled image, sets L (loop device of its ZFS slice)
disk() {
  local name=$1 sector=$2 layout=$3
  rm -f "$BUILD/$name"
  python3 "$TI/tools/solgpt.py" "$BUILD/$name" --sector "$sector" --layout "$layout" \
    --zfs-mib "$ZFS_MIB" --seed "$name" >"$BUILD/$name.layout.json"
  local off size
  off=$(slice_field "$BUILD/$name.layout.json" offset)
  size=$(slice_field "$BUILD/$name.layout.json" size)
  L=$(loop_slice "$BUILD/$name" "$off" "$size")
  LOOPS+=("$L")
  log "$name: ZFS slice $(slice_field "$BUILD/$name.layout.json" slice) at byte $off, $size bytes, on $L"
}

# fill NAME: datasets and files like a (tiny) zone root, manifest, export
fill() {
  local name=$1 m=$BUILD/mnt-$1
  rm -rf "$m"; mkdir -p "$m"
  zf set mountpoint=none rpool
  zf create -o mountpoint=none rpool/ROOT
  zf create -o mountpoint="$m" -o compression=lzjb rpool/ROOT/solaris
  zf create -o mountpoint=none rpool/export
  $POP small "$m" "$name"
  $MANIFEST "$m" >"$BUILD/$name.files.json"
  zf snapshot -r rpool@install
  zp export rpool
}

# extract NAME -> $BUILD/slices-NAME/NAME.SLICE (the ZFS slice as a file), goldens
extract() {
  local name=$1 slice off size d=$BUILD/slices-$1
  slice=$(slice_field "$BUILD/$name.layout.json" slice)
  off=$(slice_field "$BUILD/$name.layout.json" offset)
  size=$(slice_field "$BUILD/$name.layout.json" size)
  rm -rf "$d"; mkdir -p "$d"
  dd if="$BUILD/$name" of="$d/$name.$slice" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$size" status=none
  golden_labels "$d/$name.$slice" "$name.$slice"
  echo "$name $slice $off $size" >>"$BUILD/SLICES.new"
  cp "$BUILD/$name.files.json" "$TI/$name.files.json"
}

: >"$BUILD/SLICES.new"
for spec in "gptdisk-x86-512.img 512 x86 9" "gptdisk-x86-4k.img 4096 x86 12" "gptdisk-sparc-512.img 512 sparc 9"; do
  set -- $spec
  zp export rpool 2>/dev/null || true
  disk "$1" "$2" "$3"
  # the loop device has 512-byte logical sectors even for the 4Kn image (zfs-fuse
  # cannot do I/O on a 4096-byte loop device); ashift 12 keeps every block 4 KiB-aligned.
  zp create -f -o version=23 -o ashift="$4" rpool "$L"
  fill "$1"
  losetup -d "$L"
  extract "$1"
  d=$BUILD/slices-$1
  zdb -e -p "$d" rpool -d >"$TI/$1.zdb-d.txt" 2>&1
done

log "mirror"
zp export rpool 2>/dev/null || true
disk gptmirror-a.img 512 x86; LA=$L
disk gptmirror-b.img 512 x86; LB=$L
zp create -f -o version=23 -o ashift=9 rpool mirror "$LA" "$LB"
fill gptmirror-a.img
cp "$BUILD/gptmirror-a.img.files.json" "$BUILD/gptmirror-b.img.files.json"
losetup -d "$LA"; losetup -d "$LB"
extract gptmirror-a.img
extract gptmirror-b.img
mkdir -p "$BUILD/slices-mirror"
cp "$BUILD"/slices-gptmirror-a.img/* "$BUILD"/slices-gptmirror-b.img/* "$BUILD/slices-mirror/"
zdb -e -p "$BUILD/slices-mirror" rpool -d >"$TI/gptmirror.zdb-d.txt" 2>&1
rm -f "$TI/gptmirror-b.img.files.json"

for n in gptdisk-x86-512.img gptdisk-x86-4k.img gptdisk-sparc-512.img gptmirror-a.img gptmirror-b.img; do
  cp "$BUILD/$n.layout.json" "$TI/$n.layout.json"
  compress "$n"
done
# SLICES: keep the lines of images not rebuilt here
touch "$TI/SLICES"
{ grep -v -E '^gpt(disk|mirror)-' "$TI/SLICES" || true; cat "$BUILD/SLICES.new"; } | sort >"$TI/SLICES.tmp"
mv "$TI/SLICES.tmp" "$TI/SLICES"
log "done"
