#!/bin/bash
# Builds fuse-v23.img: a pool version 23 (ZPL 4) made by zfs-fuse on one file
# vdev, with real files in datasets of every v23 compression, two snapshots,
# a clone and head changes; records the manifests of every dataset view read
# back through the zfs-fuse mount, and zdb's outputs as golden files.
#   sudo bash testimages/make-fuse-v23.sh
. "$(dirname "$0")/lib.sh"
NAME=fuse-v23.img
POOL=kzpool
DIR=$BUILD/v23              # the vdev's directory (zdb -e -p DIR)
IMG=$DIR/$NAME
M=$BUILD/mnt-v23            # mount points, flat: $M/<dataset's last component>
MAN=$BUILD/man-v23          # manifests
POP="python3 $TI/tools/populate.py"
MANIFEST="python3 $TI/tools/manifest.py"
DATASETS="off lzjb gzip1 gzip9 deep"

zfs_fuse_up
trap zfs_fuse_down EXIT
zp export "$POOL" 2>/dev/null || true
rm -rf "$DIR" "$M" "$MAN"; mkdir -p "$DIR" "$M" "$MAN"
truncate -s 128M "$IMG"

log "creating $POOL (v23, ashift 9) on $IMG"
zp create -f -o version=23 -o ashift=9 -m none "$POOL" "$IMG"
zf set mountpoint="$M/root" "$POOL"          # -O mountpoint is ignored with -R, set it afterwards
zf create -o compression=off   -o mountpoint="$M/off"   "$POOL/off"
zf create -o compression=lzjb  -o mountpoint="$M/lzjb"  "$POOL/lzjb"
zf create -o compression=gzip-1 -o mountpoint="$M/gzip1" "$POOL/gzip1"
zf create -o compression=gzip-9 -o mountpoint="$M/gzip9" "$POOL/gzip9"
zf create -o compression=off -o recordsize=512 -o mountpoint="$M/deep" "$POOL/deep"

log "populating"
$POP tree "$M/root"  root
$POP tree "$M/off"   off   --large $((8 << 20)) --bigdir 2100
$POP tree "$M/lzjb"  lzjb  --large $((2 << 20)) --longnames
$POP tree "$M/gzip1" gzip1 --large $((2 << 20))
$POP tree "$M/gzip9" gzip9 --large $((2 << 20))
$POP tree "$M/deep"  deep  --large $((1536 << 10))   # 512-byte records: two levels of indirect blocks

snapall() {   # manifests of every head, taken right before `zfs snapshot -r`
  for d in root $DATASETS ${EXTRA:-}; do $MANIFEST "$M/$d" >"$MAN/$d.$1.pre.json"; done
}
EXTRA=
snapall clean
zf snapshot -r "$POOL@clean"

log "clone of gzip9@clean, then the @later changes"
zf clone -o mountpoint="$M/clone" "$POOL/gzip9@clean" "$POOL/clone"
echo "only in the clone" >"$M/clone/clone-only.txt"
rm "$M/clone/sizes/f131072"
EXTRA=clone
for d in root $DATASETS; do $POP change1 "$M/$d" "$d"; done
snapall later
zf snapshot -r "$POOL@later"

log "head changes after @later"
for d in root $DATASETS; do $POP change2 "$M/$d" "$d"; done
echo "clone head change" >>"$M/clone/clone-only.txt"
for d in root $DATASETS clone; do $MANIFEST "$M/$d" >"$MAN/$d.head.json"; done
zf list -t all -o name,used,refer,compressratio,origin >"$MAN/zfs-list.txt"
cat "$MAN/zfs-list.txt" >&2
zp export "$POOL"

# The snapshots as such, read through the zfs-fuse mount: zfs-fuse has no
# .zfs directory, so clone each snapshot in a scratch copy of the pool (the
# committed image stays untouched) and list the clone.
log "reading every snapshot back through clones in a scratch copy"
S=$BUILD/v23-scratch
rm -rf "$S"; mkdir -p "$S"
cp --sparse=always "$IMG" "$S/$NAME"
zp import -d "$S" "$POOL"
for ds in $(zf list -H -t snapshot -o name -r "$POOL"); do
  d=${ds%@*}; d=${d#$POOL}; d=${d#/}; d=${d:-root}; snap=${ds#*@}
  zf clone -o mountpoint="$M/view" "$ds" "$POOL/view"
  $MANIFEST "$M/view" >"$MAN/$d.$snap.json"
  destroy_busy "$POOL/view"
done
zp export "$POOL"
rm -rf "$S"

log "combining manifests"
python3 - "$MAN" "$POOL" "$BUILD/fuse-v23.files.json" <<'PY'
import json, os, sys
man, pool, out = sys.argv[1:]
names = {"root": pool}
res = {"pool": pool, "image": "fuse-v23.img", "datasets": {}}
bad = 0
for d in ["root", "off", "lzjb", "gzip1", "gzip9", "deep", "clone"]:
    ds = names.get(d, pool + "/" + d)
    views = {}
    for v in ["clean", "later"]:
        p = f"{man}/{d}.{v}.json"
        if os.path.exists(p):
            views["@" + v] = json.load(open(p))
            pre = f"{man}/{d}.{v}.pre.json"
            if os.path.exists(pre) and json.load(open(pre)) != views["@" + v]:
                # the head right before `zfs snapshot` must equal the snapshot read later
                a, b = json.load(open(pre)), views["@" + v]
                diff = [x for x in a if x not in b][:3] + [x for x in b if x not in a][:3]
                print(f"MISMATCH {ds}@{v}: {diff}", file=sys.stderr)
                bad += 1
    views["head"] = json.load(open(f"{man}/{d}.head.json"))
    res["datasets"][ds] = views
with open(out, "w") as f:
    f.write("{\n")
    f.write('"pool": %s,\n"image": %s,\n"datasets": {\n' % (json.dumps(pool), json.dumps(res["image"])))
    dsi = list(res["datasets"].items())
    for i, (ds, views) in enumerate(dsi):
        f.write("%s: {\n" % json.dumps(ds))
        vi = list(views.items())
        for j, (v, ents) in enumerate(vi):
            f.write("  %s: [\n" % json.dumps(v))
            f.write(",\n".join("    " + json.dumps(e, ensure_ascii=False, sort_keys=True) for e in ents))
            f.write("\n  ]%s\n" % ("," if j < len(vi) - 1 else ""))
        f.write("}%s\n" % ("," if i < len(dsi) - 1 else ""))
    f.write("}\n}\n")
json.load(open(out))
sys.exit(1 if bad else 0)
PY

log "golden zdb outputs"
golden_labels "$IMG" "$NAME"
zdb -e -p "$DIR" "$POOL" -d  >"$TI/$NAME.zdb-d.txt" 2>&1
zdb -e -p "$DIR" "$POOL" -dd >"$BUILD/$NAME.zdb-dd.txt" 2>&1
zdb -e -p "$DIR" "$POOL" -u  >"$TI/$NAME.zdb-u.txt" 2>&1 || true
cp --sparse=always "$IMG" "$BUILD/$NAME"
compress "$NAME"
compress "fuse-v23.files.json"
compress "$NAME.zdb-dd.txt"
cp "$MAN/zfs-list.txt" "$TI/$NAME.zfs-list.txt"
log "done: $(ls -la "$TI/$NAME.zst")"
