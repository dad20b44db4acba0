#!/usr/bin/env python3
"""Writes the small partition-table test images of kzrescue (tests/partition_*.rs).

Usage: make-partition-images.py OUTDIR [GOLDENDIR]

With GOLDENDIR, also records what sfdisk/sgdisk (util-linux, gdisk) and partx
print for the images (4Kn images through a 4096-byte loop device: needs root).

Everything is deterministic (fixed GUIDs, no timestamps), so running it again
gives byte-identical images. The images are sparse: only the tables are
written. The GPT writer here is independent of the `gpt` crate that kzrescue
reads with; the SMI (SPARC) image is written by util-linux sfdisk, whose own
reading of it is the oracle.

  gpt-x86-efi-512.img   16 MiB, 512-byte sectors, Solaris x86 UEFI layout:
                        9 entries; s0 EFI System "loader" at LBA 256, s1 usr
                        "zfs", s8 reserved (8 MiB) ending at the last usable LBA
  gpt-x86-bios-512.img  same with s0 BIOS_boot (Oracle's 11.1 x86 layout)
  gpt-sparc-512.img     16 MiB, SPARC layout: s0 usr "zfs" at 256, s8 reserved
  gpt-sparc-4k.img      32 MiB, 4096-byte sectors (4Kn): s0 usr at LBA 256,
                        s8 reserved (8 MiB = 2048 sectors); first usable LBA 6
  gpt-x86-efi-4k.img    32 MiB, 4Kn x86: s0 EFI System, s1 usr, s8 reserved
  x86-vtoc.img          8 MiB, an fdisk table with a Solaris2 (0xBF) partition
                        at sector 2048 holding a VTOC_16 label in its sector 1
  x86-vtoc-legacy.img   the same with the pre-Solaris-10 type 0x82, which
                        libblkid (partx) also parses: its oracle
  smi-sparc.img         64 MiB, a Sun VTOC_8 label written by sfdisk
"""
import os
import struct
import subprocess
import sys
import uuid
import zlib

USR = "6A898CC3-1DD2-11B2-99A6-080020736631"
RESERVED = "6A945A3B-1DD2-11B2-99A6-080020736631"
EFI_SYSTEM = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
BIOS_BOOT = "21686148-6449-6E6F-744E-656564454649"
NENTRIES = 9           # Solaris EFI_NUMPAR
ARRAY_AREA = 16384     # the entry array area is padded to 16 KiB
RESV_BYTES = 8 << 20   # the reserved slice s8


def guid(n, tag):
    """A fixed GUID per image and purpose."""
    return uuid.UUID(int=(0x4B5A5245_0000_4000_8000_000000000000 | (tag << 32) | n))


def gpt_entry(type_guid, unique, first, last, name):
    nm = name.encode("utf-16-le")[:72].ljust(72, b"\0")
    return (uuid.UUID(type_guid).bytes_le + unique.bytes_le
            + struct.pack("<QQQ", first, last, 0) + nm)


def gpt_header(my_lba, alt_lba, first_usable, last_usable, disk, array_lba, array_crc):
    h = bytearray(struct.pack("<8sIII I QQQQ 16s QIII", b"EFI PART", 0x00010000, 92, 0, 0,
                              my_lba, alt_lba, first_usable, last_usable, disk.bytes_le,
                              array_lba, NENTRIES, 128, array_crc))
    struct.pack_into("<I", h, 16, zlib.crc32(bytes(h)))
    return bytes(h)


def protective_mbr(total):
    mbr = bytearray(512)
    size = min(total - 1, 0xFFFFFFFF)
    mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\x00\x02\x00", 0xEE, b"\xff\xff\xff", 1, size)
    mbr[510:512] = b"\x55\xaa"
    return bytes(mbr)


def write_gpt(path, ss, size, slices, seed):
    """slices: {slice: (type, first, last, name)}; 'last' None = up to the reserved slice."""
    total = size // ss
    array_lbas = ARRAY_AREA // ss
    first_usable = 2 + array_lbas
    last_usable = total - array_lbas - 2
    resv = RESV_BYTES // ss
    entries = [bytes(128)] * NENTRIES
    for s, (ty, first, last, name) in slices.items():
        if last is None:
            last = last_usable - resv
        entries[s] = gpt_entry(ty, guid(seed, s + 1), first, last, name)
    entries[8] = gpt_entry(RESERVED, guid(seed, 9), last_usable - resv + 1, last_usable, "")
    array = b"".join(entries)
    crc = zlib.crc32(array)
    disk = guid(seed, 0)
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(0)
        f.write(protective_mbr(total))
        f.seek(ss)
        f.write(gpt_header(1, total - 1, first_usable, last_usable, disk, 2, crc))
        f.seek(2 * ss)
        f.write(array)
        f.seek((last_usable + 1) * ss)
        f.write(array)
        f.seek((total - 1) * ss)
        f.write(gpt_header(total - 1, 1, first_usable, last_usable, disk, last_usable + 1, crc))


def label_checksum(label):
    """The word that makes the XOR of all 256 16-bit words zero."""
    x = 0
    for i in range(0, 510, 2):
        x ^= (label[i] << 8) | label[i + 1]
    return bytes([x >> 8, x & 0xff])


def write_x86_vtoc(path, kind=0xBF):
    size = 8 << 20
    start = 2048                       # fdisk partition start sector
    nhead, nsect = 16, 32              # a cylinder = 512 sectors
    spc = nhead * nsect
    psects = size // 512 - start
    ncyl = psects // spc
    acyl = 2
    mbr = bytearray(512)
    mbr[446:462] = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", kind, b"\xfe\xff\xff", start, psects)
    mbr[510:512] = b"\x55\xaa"
    v = bytearray(512)
    struct.pack_into("<III", v, 0, 0, 0, 0)                # bootinfo
    struct.pack_into("<II8sHH", v, 12, 0x600DDEEE, 1, b"kzrescue", 512, 16)
    data_cyl = ncyl - acyl
    slices = {                                              # slice: (tag, flag, start, size)
        0: (2, 0x00, 3 * spc, (data_cyl - 3 - 4) * spc),    # root (the pool)
        1: (3, 0x01, (data_cyl - 4) * spc, 4 * spc),        # swap, unmountable
        2: (5, 0x01, 0, data_cyl * spc),                    # backup (whole)
        8: (1, 0x01, 0, spc),                               # boot
        9: (9, 0x01, spc, 2 * spc),                         # alternates
    }
    for s, (tag, flag, st, sz) in slices.items():
        struct.pack_into("<HHII", v, 72 + 12 * s, tag, flag, st, sz)
    ascii = "kzrescue x86 test cyl %d alt %d hd %d sec %d" % (data_cyl, acyl, nhead, nsect)
    v[328:328 + len(ascii)] = ascii.encode()
    struct.pack_into("<IIHHII", v, 456, ncyl, data_cyl, acyl, 0, nhead, nsect)
    struct.pack_into("<HHHHHH", v, 476, 1, 0, 0, 3600, 1, 1)   # intrlv skew apc rpm wr rr
    struct.pack_into("<H", v, 508, 0xDABE)
    # x86 labels are little-endian: fold the checksum as little-endian words.
    x = 0
    for i in range(0, 510, 2):
        x ^= v[i] | (v[i + 1] << 8)
    struct.pack_into("<H", v, 510, x)
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(0)
        f.write(mbr)
        f.seek((start + 1) * 512)
        f.write(v)


def write_smi(path):
    with open(path, "wb") as f:
        f.truncate(64 << 20)
    script = ("label: sun\n\n"
              "start=0, size=32130, type=2\n"
              "start=32130, size=16065, type=3\n"
              "start=0, size=128520, type=5\n"
              "start=48195, size=80325, type=8\n")
    subprocess.run(["sfdisk", "--no-reread", "--no-tell-kernel", path], input=script.encode(),
                   check=True, stdout=subprocess.DEVNULL)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    p = lambda n: os.path.join(out, n)
    write_gpt(p("gpt-x86-efi-512.img"), 512, 16 << 20,
              {0: (EFI_SYSTEM, 256, 256 + 2048 - 1, "loader"), 1: (USR, 2304, None, "zfs")}, 1)
    write_gpt(p("gpt-x86-bios-512.img"), 512, 16 << 20,
              {0: (BIOS_BOOT, 256, 256 + 2048 - 1, ""), 1: (USR, 2304, None, "zfs")}, 2)
    write_gpt(p("gpt-sparc-512.img"), 512, 16 << 20, {0: (USR, 256, None, "zfs")}, 3)
    write_gpt(p("gpt-sparc-4k.img"), 4096, 32 << 20, {0: (USR, 256, None, "zfs")}, 4)
    write_gpt(p("gpt-x86-efi-4k.img"), 4096, 32 << 20,
              {0: (EFI_SYSTEM, 256, 256 + 512 - 1, "loader"), 1: (USR, 768, None, "zfs")}, 5)
    write_x86_vtoc(p("x86-vtoc.img"))
    write_x86_vtoc(p("x86-vtoc-legacy.img"), 0x82)
    write_smi(p("smi-sparc.img"))
    if len(sys.argv) > 2:
        goldens(out, sys.argv[2])


def run(cmd, cwd=None):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=cwd).stdout


def goldens(imgdir, gold):
    """What the real tools print for each image, for tests/partition_oracle.rs."""
    os.makedirs(gold, exist_ok=True)

    def save(name, text):
        with open(os.path.join(gold, name), "w") as f:
            f.write(text)

    for n in ["gpt-x86-efi-512", "gpt-x86-bios-512", "gpt-sparc-512", "smi-sparc"]:
        img = n + ".img"
        save(n + ".sfdisk.json", run(["sfdisk", "--json", img], imgdir))
        if n.startswith("gpt"):
            save(n + ".sgdisk-p.txt", run(["sgdisk", "-p", img], imgdir))
            save(n + ".sgdisk-v.txt", run(["sgdisk", "-v", img], imgdir))
    for n in ["gpt-sparc-4k", "gpt-x86-efi-4k"]:
        # sfdisk and sgdisk assume 512-byte sectors on files: show them the
        # image as a 4096-byte-sector loop device.
        img = os.path.join(imgdir, n + ".img")
        dev = run(["losetup", "-f", "--show", "-r", "-b", "4096", img]).strip()
        try:
            save(n + ".sfdisk.json", run(["sfdisk", "--json", dev]).replace(dev, n + ".img"))
        finally:
            subprocess.run(["losetup", "-d", dev], check=True)
    save("x86-vtoc-legacy.partx.txt",
         run(["partx", "--raw", "-o", "NR,START,SECTORS,TYPE", "x86-vtoc-legacy.img"], imgdir))


if __name__ == "__main__":
    main()
