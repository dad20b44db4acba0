#!/usr/bin/env python3
"""Deterministic file trees for the kzrescue fixture pools.

    populate.py tree   DIR SEED [--large BYTES] [--bigdir N] [--longnames]
    populate.py change1 DIR SEED      # the changes between @clean and @later
    populate.py change2 DIR SEED      # the changes after @later (head only)
    populate.py small  DIR SEED       # a small tree for the GPT-disk pools

Content is seeded text: compressible (so the zstd'd images stay small) but not
trivial (every line differs), so that block pointers, compression and checksums
are exercised for real. Timestamps are set explicitly where the test wants them.
"""
import argparse
import os
import random
import socket
import stat

WORDS = (
    "zpool vdev label uberblock nvlist txg guid dnode blkptr indirect zap "
    "dataset snapshot clone mirror raidz slice gpt efi reserved kernel zone "
    "solaris rescue offline checksum fletcher sha256 lzjb gzip ashift metaslab "
    "spacemap objset bonus znode symlink hardlink sparse hole device fifo "
    "socket xattr acl owner group mode mtime ctime atime crtime gen parent "
    "links flags size blocks level fill birth physical logical"
).split()

# Fixed, distinct timestamps (seconds, nanoseconds) for files we pin.
T0 = 1_000_000_000  # 2001-09-09T01:46:40Z


def text(rng, nbytes):
    """Seeded text of exactly nbytes bytes: ~512-byte stanzas, each a numbered
    header and eight lines of which one is random. Every stanza differs, yet
    lzjb (1 KiB window), gzip and zstd all find matches, so images stay small."""
    base = [" ".join(WORDS[(j * 5 + k) % len(WORDS)] for k in range(8)) + "\n" for j in range(8)]
    out = []
    n = 0
    i = 0
    while n < nbytes:
        lines = list(base)
        lines[rng.randrange(8)] = " ".join(rng.choice(WORDS) for _ in range(8)) + "\n"
        stanza = "%08d %s\n" % (i, rng.choice(WORDS)) + "".join(lines)
        out.append(stanza)
        n += len(stanza)
        i += 1
    return "".join(out).encode()[:nbytes]


def write(path, data, mtime=None, mode=None):
    with open(path, "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)
    if mtime is not None:
        os.utime(path, ns=(mtime, mtime))


def pin(path, k):
    """Give path a fixed mtime (T0 + k seconds + k*1001 ns)."""
    t = (T0 + k) * 1_000_000_000 + (k * 1001) % 1_000_000_000
    os.utime(path, ns=(t, t), follow_symlinks=False)


def tree(d, seed, large, bigdir, longnames):
    rng = random.Random(seed)
    os.makedirs(d, exist_ok=True)
    write(f"{d}/hello.txt", b"hello from %s\n" % seed.encode(), mtime=None)
    pin(f"{d}/hello.txt", 1)
    write(f"{d}/empty", b"")
    pin(f"{d}/empty", 2)

    # Sizes around sector, page and record boundaries.
    os.makedirs(f"{d}/sizes")
    for k, n in enumerate([1, 511, 512, 513, 4095, 4096, 4097, 131071, 131072, 131073, 1 << 20]):
        write(f"{d}/sizes/f{n}", text(rng, n))
        pin(f"{d}/sizes/f{n}", 10 + k)

    # A large file spanning many blocks (indirect blocks).
    if large:
        write(f"{d}/large.txt", text(rng, large))
        pin(f"{d}/large.txt", 30)

    # A sparse file: data, a hole, data, and a trailing hole.
    with open(f"{d}/sparse.bin", "wb") as f:
        f.write(text(rng, 65536))
        f.seek(5 << 20)
        f.write(text(rng, 65536))
        f.seek((12 << 20) - 4096)
        f.write(text(rng, 4096))
        f.truncate(20 << 20)
    pin(f"{d}/sparse.bin", 31)

    # Links.
    os.makedirs(f"{d}/links")
    os.symlink("../hello.txt", f"{d}/links/short")
    os.symlink("/" + "/".join("dir%02d" % i for i in range(40)) + "/target", f"{d}/links/long")  # > bonus
    os.symlink("x" * 1000, f"{d}/links/verylong")  # dangling, 1000 bytes
    os.symlink("does-not-exist", f"{d}/links/dangling")
    os.link(f"{d}/hello.txt", f"{d}/links/hard-to-hello")
    write(f"{d}/links/orig", text(rng, 300))
    os.link(f"{d}/links/orig", f"{d}/links/orig-2")
    os.link(f"{d}/links/orig", f"{d}/links/orig-3")
    for k, name in enumerate(["short", "long", "verylong", "dangling"]):
        pin(f"{d}/links/{name}", 40 + k)

    # Many small files.
    os.makedirs(f"{d}/small")
    for i in range(300):
        write(f"{d}/small/s{i:04d}", text(rng, rng.randint(1, 200)))

    # A directory big enough for a fat ZAP (a microzap holds at most 2047 entries).
    if bigdir:
        os.makedirs(f"{d}/bigdir")
        for i in range(bigdir):
            write(f"{d}/bigdir/entry-{i:05d}", b"%d\n" % i)

    # Names longer than a microzap entry allows (50 bytes) also force a fat ZAP.
    if longnames:
        os.makedirs(f"{d}/longnames")
        write(f"{d}/longnames/" + "L" * 200, b"200\n")
        write(f"{d}/longnames/" + "n" * 255, b"255\n")
        write(f"{d}/longnames/short", b"short\n")

    # Deep nesting.
    p = d + "/deep"
    for c in "abcdefghij":
        p += "/" + c
    os.makedirs(p)
    write(p + "/leaf.txt", text(rng, 777))

    # Special files.
    os.makedirs(f"{d}/special")
    os.mkfifo(f"{d}/special/fifo")
    os.mknod(f"{d}/special/null-like", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(f"{d}/special/loop-like", 0o660 | stat.S_IFBLK, os.makedev(7, 0))
    s = socket.socket(socket.AF_UNIX)
    s.bind(f"{d}/special/sock")
    s.close()

    # Owners and modes.
    os.makedirs(f"{d}/perms")
    write(f"{d}/perms/private", text(rng, 100), mode=0o600)
    os.chown(f"{d}/perms/private", 1000, 1000)
    write(f"{d}/perms/setuid", text(rng, 100), mode=0o4755)
    write(f"{d}/perms/readonly", text(rng, 100), mode=0o444)
    os.makedirs(f"{d}/perms/sticky")
    os.chmod(f"{d}/perms/sticky", 0o1777)
    os.makedirs(f"{d}/perms/nobody")
    os.chown(f"{d}/perms/nobody", 65534, 65534)
    os.chmod(f"{d}/perms/nobody", 0o700)

    # Names that are not plain ASCII.
    write(f"{d}/name with spaces.txt", b"spaces\n")
    write(f"{d}/\u00fcn\u00efc\u00f8d\u00e9-\u30d5\u30a1\u30a4\u30eb.txt", "unicode\n".encode())


def change1(d, seed):
    """@clean -> @later: modify, add, delete, rename, chmod, chown."""
    rng = random.Random(seed + "/change1")
    write(f"{d}/hello.txt", b"hello again from %s (changed for @later)\n" % seed.encode())
    if os.path.exists(f"{d}/large.txt"):
        with open(f"{d}/large.txt", "r+b") as f:
            f.seek(3 << 20)
            f.write(text(rng, 4096).upper())  # overwrite one block in the middle
        with open(f"{d}/large.txt", "ab") as f:
            f.write(text(rng, 10000))
    for i in range(1, 11):
        os.unlink(f"{d}/small/s{i:04d}")
    os.makedirs(f"{d}/new")
    write(f"{d}/new/added.txt", text(rng, 5000))
    os.rename(f"{d}/sizes/f4096", f"{d}/sizes/f4096.renamed")
    os.chmod(f"{d}/sizes/f512", 0o640)
    os.chown(f"{d}/sizes/f513", 4242, 4343)
    os.unlink(f"{d}/links/dangling")
    os.link(f"{d}/links/orig", f"{d}/new/orig-4")
    if os.path.isdir(f"{d}/bigdir"):
        for i in range(100, 200):
            os.unlink(f"{d}/bigdir/entry-{i:05d}")


def change2(d, seed):
    """@later -> head: changes only the head has."""
    rng = random.Random(seed + "/change2")
    write(f"{d}/head-only.txt", text(rng, 2222))
    os.unlink(f"{d}/sizes/f1")
    write(f"{d}/hello.txt", b"hello, head of %s\n" % seed.encode())
    os.truncate(f"{d}/sparse.bin", 8 << 20)
    os.rmdir(f"{d}/perms/sticky")


def small(d, seed):
    """A small tree for the GPT-disk pools (a stand-in for a zone's root)."""
    rng = random.Random(seed)
    os.makedirs(f"{d}/etc", exist_ok=True)
    write(f"{d}/etc/release", b"Oracle Solaris 11.4 stand-in for kzrescue fixture %s\n" % seed.encode())
    write(f"{d}/etc/motd", text(rng, 1500))
    os.makedirs(f"{d}/var/log", exist_ok=True)
    write(f"{d}/var/log/messages", text(rng, 300000))
    write(f"{d}/bigfile", text(rng, 2 << 20))
    os.symlink("etc/release", f"{d}/release-link")
    os.link(f"{d}/etc/motd", f"{d}/motd-hardlink")
    with open(f"{d}/sparse", "wb") as f:
        f.write(b"start\n")
        f.seek(3 << 20)
        f.write(b"end\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["tree", "change1", "change2", "small"])
    ap.add_argument("dir")
    ap.add_argument("seed")
    ap.add_argument("--large", type=int, default=0)
    ap.add_argument("--bigdir", type=int, default=0)
    ap.add_argument("--longnames", action="store_true")
    a = ap.parse_args()
    if a.cmd == "tree":
        tree(a.dir, a.seed, a.large, a.bigdir, a.longnames)
    elif a.cmd == "change1":
        change1(a.dir, a.seed)
    elif a.cmd == "change2":
        change2(a.dir, a.seed)
    else:
        small(a.dir, a.seed)


if __name__ == "__main__":
    main()
