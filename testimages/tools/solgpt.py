#!/usr/bin/env python3
"""Writes a Solaris-style GPT (EFI label) onto a disk image, for fixtures.

    solgpt.py IMAGE --sector 512|4096 --layout x86|sparc --zfs-mib N --seed S

Why our own writer: sgdisk and parted assume 512-byte sectors on image files,
and neither writes the 9-entry table Solaris does. What it writes, following
illumos libefi (see /work/shared/reference/solaris-kz-facts.md §5.2):
- protective MBR (one 0xEE partition from LBA 1);
- header at LBA 1, revision 1.0, 92 bytes; NumberOfPartitionEntries = 9,
  entry size 128, the entry area padded to 16 KiB, so FirstUsableLBA is 34 on
  512-byte sectors and 6 on 4096-byte sectors; the array CRC covers 9 × 128 bytes;
- backup entries right after LastUsableLBA, backup header on the last LBA;
- data partitions start at LBA 256; entry 8 is the reserved partition
  (V_RESERVED), 8 MiB, ending on LastUsableLBA.
Layouts: x86 = s0 EFI System (1 MiB, name "loader"), s1 ZFS/usr (name "zfs");
sparc = s0 ZFS/usr (name "zfs"). The ZFS slice runs up to the reserved one.
Prints the layout as JSON (byte offsets) on stdout. GUIDs derive from --seed.
"""
import argparse
import hashlib
import json
import struct
import uuid
import zlib

ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
USR = "6A898CC3-1DD2-11B2-99A6-080020736631"  # V_USR, also "ZFS"
RESERVED = "6A945A3B-1DD2-11B2-99A6-080020736631"  # V_RESERVED
NPARTS = 9
ENTRY = 128
ENTRY_AREA = 16384


def guid(seed, what):
    return uuid.UUID(bytes=hashlib.sha256(f"{seed}/{what}".encode()).digest()[:16], version=4)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("image")
    ap.add_argument("--sector", type=int, choices=[512, 4096], required=True)
    ap.add_argument("--layout", choices=["x86", "sparc"], required=True)
    ap.add_argument("--zfs-mib", type=int, required=True)
    ap.add_argument("--seed", required=True)
    a = ap.parse_args()
    ss = a.sector
    mib = (1 << 20) // ss
    area = ENTRY_AREA // ss  # sectors of one entry area
    first_usable = 2 + area
    start = 256
    parts = []  # (index, type, start, end, name)
    if a.layout == "x86":
        parts.append((0, ESP, start, start + mib - 1, "loader"))
        start += mib
        zfs_index = 1
    else:
        zfs_index = 0
    zfs_start = start
    zfs_end = zfs_start + a.zfs_mib * mib - 1
    resv_start = zfs_end + 1
    resv_end = resv_start + 8 * mib - 1
    last_usable = resv_end
    total = last_usable + 1 + area + 1  # backup entries + backup header
    parts.append((zfs_index, USR, zfs_start, zfs_end, "zfs"))
    parts.append((8, RESERVED, resv_start, resv_end, ""))

    entries = bytearray(NPARTS * ENTRY)
    for idx, t, s, e, name in parts:
        struct.pack_into(
            "<16s16sQQQ72s",
            entries,
            idx * ENTRY,
            uuid.UUID(t).bytes_le,
            guid(a.seed, f"part{idx}").bytes_le,
            s,
            e,
            0,
            name.encode("utf-16-le"),
        )
    entries_crc = zlib.crc32(bytes(entries))
    disk_guid = guid(a.seed, "disk")

    def header(my_lba, alt_lba, entries_lba):
        h = bytearray(
            struct.pack(
                "<8sIIIIQQQQ16sQIII",
                b"EFI PART",
                0x00010000,
                92,
                0,
                0,
                my_lba,
                alt_lba,
                first_usable,
                last_usable,
                disk_guid.bytes_le,
                entries_lba,
                NPARTS,
                ENTRY,
                entries_crc,
            )
        )
        struct.pack_into("<I", h, 16, zlib.crc32(bytes(h)))
        return bytes(h) + bytes(ss - len(h))

    mbr = bytearray(ss)
    # protective MBR: one partition, type 0xEE, from LBA 1 to the end (capped)
    struct.pack_into(
        "<B3sB3sII", mbr, 446, 0, b"\x00\x02\x00", 0xEE, b"\xff\xff\xff", 1, min(total - 1, 0xFFFFFFFF)
    )
    mbr[510:512] = b"\x55\xaa"

    with open(a.image, "r+b" if _exists(a.image) else "w+b") as f:
        f.truncate(total * ss)
        f.seek(0)
        f.write(mbr)
        f.seek(1 * ss)
        f.write(header(1, total - 1, 2))
        f.seek(2 * ss)
        f.write(bytes(entries) + bytes(area * ss - len(entries)))
        f.seek((last_usable + 1) * ss)
        f.write(bytes(entries) + bytes(area * ss - len(entries)))
        f.seek((total - 1) * ss)
        f.write(header(total - 1, 1, last_usable + 1))

    out = {
        "sector_size": ss,
        "total_sectors": total,
        "size_bytes": total * ss,
        "first_usable_lba": first_usable,
        "last_usable_lba": last_usable,
        "disk_guid": str(disk_guid).upper(),
        "partitions": [
            {
                "index": idx,
                "slice": "s%d" % idx,
                "type": t,
                "name": name,
                "start_lba": s,
                "end_lba": e,
                "offset": s * ss,
                "size": (e - s + 1) * ss,
            }
            for idx, t, s, e, name in parts
        ],
        "zfs_slice": "s%d" % zfs_index,
    }
    print(json.dumps(out, indent=1))


def _exists(p):
    try:
        open(p, "rb").close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
