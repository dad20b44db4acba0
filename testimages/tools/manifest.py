#!/usr/bin/env python3
"""Manifest of a mounted file tree, as the golden truth for kzrescue's own reader.

    manifest.py ROOT            # JSON array on stdout, one entry per line, sorted by path

Each entry: path (relative, "." for ROOT), type (file dir symlink fifo chr blk sock),
ino (the ZPL object number on zfs-fuse), mode (permission bits, octal string),
uid, gid, nlink, size, mtime_ns; sha256 for files, target for symlinks, rdev
[major, minor] for devices. Mount points of other file systems are not entered.
"""
import hashlib
import json
import os
import stat
import sys


def kind(m):
    for test, name in (
        (stat.S_ISREG, "file"),
        (stat.S_ISDIR, "dir"),
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISCHR, "chr"),
        (stat.S_ISBLK, "blk"),
        (stat.S_ISSOCK, "sock"),
    ):
        if test(m):
            return name
    return "unknown"


def entry(root, rel):
    p = os.path.join(root, rel) if rel != "." else root
    st = os.lstat(p)
    e = {
        "path": rel,
        "type": kind(st.st_mode),
        "ino": st.st_ino,
        "mode": "%04o" % stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "nlink": st.st_nlink,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
    }
    if e["type"] == "file":
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        e["sha256"] = h.hexdigest()
    elif e["type"] == "symlink":
        e["target"] = os.readlink(p)
    elif e["type"] in ("chr", "blk"):
        e["rdev"] = [os.major(st.st_rdev), os.minor(st.st_rdev)]
    return e, st


def walk(root):
    out = []
    dev = os.lstat(root).st_dev
    stack = ["."]
    while stack:
        rel = stack.pop()
        e, st = entry(root, rel)
        out.append(e)
        if e["type"] == "dir" and st.st_dev == dev:
            p = os.path.join(root, rel) if rel != "." else root
            for name in os.listdir(p):
                stack.append(name if rel == "." else rel + "/" + name)
    out.sort(key=lambda e: e["path"].encode("utf-8", "surrogateescape"))
    return out


def dumps(entries):
    return "[\n" + ",\n".join(json.dumps(e, ensure_ascii=False, sort_keys=True) for e in entries) + "\n]\n"


if __name__ == "__main__":
    sys.stdout.write(dumps(walk(sys.argv[1])))
