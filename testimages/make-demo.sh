#!/bin/bash
# Makes testimages/demo-kz1.img.zst and testimages/demo-kz1.key, the image that
# `kzrescue demo` carries: the x86 GPT pool disk gptdisk-x86-512.img (a real
# zfs-fuse pool in slice 1, the reserved slice 8 empty) put into the two field
# states with kzrescue itself:
#   1. the leaf's phys_path/path/devid as a global-zone import leaves them
#      (`kzrescue physpath set … --phys-path … --path … --devid …`, the same
#      label writer that the repair uses, verified by zdb in the tests);
#   2. host data sealed under key A, while the zone's keystore holds key B
#      (what a LUN rollback after a re-initialization leaves behind).
# Key A is thrown away; key B is committed as demo-kz1.key (a demo key).
# Run from the repository root after `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."
kz=${KZRESCUE:-target/release/kzrescue}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
zstd -q -dc testimages/gptdisk-x86-512.img.zst > "$t/disk.img"
"$kz" physpath set "$t/disk.img" \
  --phys-path /scsi_vhci/disk@g600144f0a613c900000054521d550001:b \
  --path /dev/dsk/c0t600144F0A613C900000054521D550001d0s1 \
  --devid id1,sd@n600144f0a613c900000054521d550001/b \
  --liveness-interval 0 --write --journal "$t/j1"
# Host data under key A, owned by the host that imported the pool.
"$kz" hostdata init "$t/disk.img" --zone kz1 --key-out "$t/keyA" \
  --hostid 848611d4 --hostname global2 --be-name solaris-1 \
  --write --journal "$t/j2"
# Key B: the key a later re-initialization put in the keystore (made on a
# scratch copy, whose host data is then discarded with it).
cp "$t/disk.img" "$t/scratch.img"
"$kz" hostdata init "$t/scratch.img" --zone kz1 --key-out "$t/keyB" --write --journal "$t/j3"
zstd -q -19 --long=27 -f "$t/disk.img" -o testimages/demo-kz1.img.zst
cp "$t/keyB" testimages/demo-kz1.key
sha256sum "$t/disk.img" | sed "s#$t/##"
ls -l testimages/demo-kz1.img.zst testimages/demo-kz1.key
