#!/bin/sh
# Regenerates the nvlist fuzz seeds from real packed nvlists: label nvlists of
# a few OpenZFS test-suite pool images (Debian zfs-test) and libnvpair's own
# XDR/native packing of an all-types list (tests/nvlist_libnvpair.py).
# Each label seed is the packed list cut after its last non-zero byte plus
# 64 zero bytes (the decoders ignore what follows the terminator).
set -eu
cd "$(dirname "$0")"
B=/usr/share/zfs/zfs-tests/tests/functional/cli_root
PY=../../tests/nvlist_libnvpair.py
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p nvlist_xdr nvlist_native nvlist_roundtrip
for img in zpool_upgrade/blockfiles/zfs-pool-v15 zpool_upgrade/blockfiles/zfs-pool-v3hotspare1 \
           zpool_upgrade/blockfiles/zfs-pool-v2raidz2 zpool_import/blockfiles/cryptv0; do
  n=$(basename "$img")
  bzip2 -dc "$B/$img.dat.bz2" | head -c 131072 | tail -c 114688 > "$T/region"
  python3 - "$T/region" "nvlist_xdr/$n.label0.xdr" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()[:114648]
end = len(d.rstrip(b"\0"))
open(sys.argv[2], "wb").write(d[:end] + bytes(64))
PY
  python3 "$PY" repack "nvlist_xdr/$n.label0.xdr" "nvlist_native/$n.label0.native"
done
python3 "$PY" pack nvlist_xdr/libnvpair-all-types.xdr "$T/n"
cp "$T/n" nvlist_native/libnvpair-all-types.native
cp nvlist_xdr/* nvlist_native/* nvlist_roundtrip/
ls -l nvlist_xdr nvlist_native
