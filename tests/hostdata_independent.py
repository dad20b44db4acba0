#!/usr/bin/env python3
"""An independent reader/writer of kzrescue host data, written from
formats/hostdata.md alone (not from the Rust code), used by
tests/hostdata_spec.rs to check that the document is complete and that
kzrescue follows it.

    hostdata_independent.py read  IMAGE KEYFILE          -> JSON on stdout
    hostdata_independent.py write IMAGE KEYFILE JSON     (JSON: payload fields + generation)

Needs python3-cryptography (AESCCM)."""

import hashlib
import json
import os
import struct
import sys
import zlib

from cryptography.hazmat.primitives.ciphers.aead import AESCCM

RESERVED = "6A945A3B-1DD2-11B2-99A6-080020736631"
SLOT = 65536
GUARD = 65536


def guid_str(b):
    a, b2, c = struct.unpack_from("<IHH", b, 0)
    rest = b[8:16].hex().upper()
    return "%08X-%04X-%04X-%s-%s" % (a, b2, c, rest[:4], rest[4:])


def reserved_partition(img, sector=512):
    img.seek(sector)
    hdr = img.read(92)
    assert hdr[:8] == b"EFI PART", "no GPT"
    entries_lba, n, esz = struct.unpack_from("<QII", hdr, 72)
    img.seek(entries_lba * sector)
    table = img.read(n * esz)
    found = []
    for i in range(n):
        e = table[i * esz:(i + 1) * esz]
        if guid_str(e[0:16]) == RESERVED:
            first, last = struct.unpack_from("<QQ", e, 32)
            found.append((first * sector, (last + 1 - first) * sector))
    assert len(found) == 1, "need exactly one reserved partition"
    return found[0]


def read_key(path):
    lines = [l.strip() for l in open(path).read().splitlines()]
    lines = [l for l in lines if l and not l.startswith("#")]
    assert lines[0] == "kzrescue-hostdata-key 1"
    for l in lines[1:]:
        k, _, v = l.partition(" ")
        if k == "aes-128-ccm":
            return bytes.fromhex(v)
    raise SystemExit("no key")


def key_id(key):
    return hashlib.sha256(b"kzrescue hostdata key id v1" + key).digest()[:8]


# --- XDR nvlist subset (formats/hostdata.md 5.1) ---
def xdr_string(buf, pos):
    (n,) = struct.unpack_from(">I", buf, pos)
    s = buf[pos + 4:pos + 4 + n].decode()
    return s, pos + 4 + ((n + 3) & ~3)


def xdr_list(buf, pos):
    version, flag = struct.unpack_from(">iI", buf, pos)
    assert (version, flag) == (0, 1)
    pos += 8
    out = {}
    while True:
        esz, dsz = struct.unpack_from(">ii", buf, pos)
        if esz == 0 and dsz == 0:
            return out, pos + 8
        start = pos
        name, p = xdr_string(buf, pos + 8)
        typ, nelem = struct.unpack_from(">ii", buf, p)
        p += 8
        assert nelem == 1
        if typ in (6, 21):
            (v,) = struct.unpack_from(">I", buf, p)
            v = bool(v) if typ == 21 else v
            p += 4
            vsz = 4
        elif typ == 7:
            (v,) = struct.unpack_from(">q", buf, p)
            p += 8
            vsz = 8
        elif typ == 8:
            (v,) = struct.unpack_from(">Q", buf, p)
            p += 8
            vsz = 8
        elif typ == 9:
            v, p = xdr_string(buf, p)
            vsz = len(v.encode()) + 1
        elif typ == 19:
            v, p = xdr_list(buf, p)
            vsz = 24
        else:
            raise SystemExit("type %d not in the subset" % typ)
        assert p - start == esz, (name, p - start, esz)
        al = lambda x: (x + 7) & ~7
        assert dsz == al(16 + len(name.encode()) + 1) + al(vsz), (name, dsz)
        out[name] = v
        pos = p


def enc_string(s):
    b = s.encode()
    return struct.pack(">I", len(b)) + b + b"\0" * ((4 - len(b) % 4) % 4)


def enc_pair(name, typ, value):
    al = lambda x: (x + 7) & ~7
    if typ in (6, 21):
        v, vsz = struct.pack(">I", int(value)), 4
    elif typ == 7:
        v, vsz = struct.pack(">q", value), 8
    elif typ == 8:
        v, vsz = struct.pack(">Q", value), 8
    elif typ == 9:
        v, vsz = enc_string(value), len(value.encode()) + 1
    elif typ == 19:
        v, vsz = enc_list(value), 24
    body = enc_string(name) + struct.pack(">ii", typ, 1) + v
    return struct.pack(">ii", 8 + len(body), al(16 + len(name.encode()) + 1) + al(vsz)) + body


def enc_list(pairs):
    return struct.pack(">iI", 0, 1) + b"".join(enc_pair(*p) for p in pairs) + struct.pack(">ii", 0, 0)


def payload(d):
    suspend = [("suspended", 21, d["suspend"]["suspended"]), ("image", 9, d["suspend"]["image"]),
               ("time", 7, d["suspend"]["time"])]
    obp = [(k, 9, v) for k, v in d["obp_vars"]]
    pairs = [("payload_version", 6, 1), ("zonename", 9, d["zonename"]),
             ("owner_hostid", 6, d["owner_hostid"]), ("owner_hostname", 9, d["owner_hostname"]),
             ("state", 9, d["state"]), ("be_name", 9, d["be_name"]), ("be_uuid", 9, d["be_uuid"]),
             ("last_update", 7, d["last_update"]), ("tod_offset_ns", 7, d["tod_offset_ns"]),
             ("suspend", 19, suspend), ("obp_vars", 19, obp), ("generation", 8, d["generation"])]
    return bytes([1, 1, 0, 0]) + enc_list(pairs)


def aad_of(header):
    h = bytearray(header)
    h[48:52] = b"\0" * 4
    h[60:64] = b"\0" * 4
    return bytes(h)


def read_slot(slot, key):
    if slot == b"\0" * len(slot):
        return {"state": "empty"}
    if slot[:8] != b"KZRHOSTD":
        return {"state": "foreign"}
    h = slot[:64]
    if zlib.crc32(h[:60]) != struct.unpack_from(">I", h, 60)[0]:
        return {"state": "corrupt"}
    ver, hlen, flags, gen = struct.unpack_from(">HHIQ", h, 8)
    if ver != 1 or flags != 0:
        return {"state": "unsupported"}
    kid, nonce = h[24:32], h[32:44]
    plen, bcrc = struct.unpack_from(">II", h, 44)
    if hlen != 64 or h[52:60] != b"\0" * 8 or plen > SLOT - 80:
        return {"state": "corrupt"}
    body = slot[64:64 + plen + 16]
    if zlib.crc32(body) != bcrc:
        return {"state": "corrupt"}
    if kid != key_id(key):
        return {"state": "key-incorrect", "generation": gen}
    try:
        plain = AESCCM(key, tag_length=16).decrypt(nonce, body, aad_of(h))
    except Exception:
        return {"state": "tampered", "generation": gen}
    assert plain[0] == 1
    lst, end = xdr_list(plain, 4)
    assert end == len(plain)
    assert lst["generation"] == gen
    return {"state": "valid", "generation": gen, "payload": lst}


def main():
    cmd, image, keyfile = sys.argv[1:4]
    key = read_key(keyfile)
    with open(image, "r+b" if cmd == "write" else "rb") as img:
        start, size = reserved_partition(img)
        offs = [GUARD, (size - SLOT) // 4096 * 4096]
        if cmd == "read":
            out = []
            for name, off in zip(["primary", "backup"], offs):
                img.seek(start + off)
                r = read_slot(img.read(SLOT), key)
                r["copy"] = name
                out.append(r)
            print(json.dumps(out, sort_keys=True))
        else:
            d = json.loads(sys.argv[4])
            plain = payload(d)
            nonce = os.urandom(12)
            hdr = bytearray(b"KZRHOSTD" + struct.pack(">HHIQ", 1, 64, 0, d["generation"]) + key_id(key)
                            + nonce + struct.pack(">II", len(plain), 0) + b"\0" * 12)
            sealed = AESCCM(key, tag_length=16).encrypt(nonce, plain, bytes(hdr))
            struct.pack_into(">I", hdr, 48, zlib.crc32(sealed))
            struct.pack_into(">I", hdr, 60, zlib.crc32(bytes(hdr[:60])))
            copy = bytes(hdr) + sealed
            copy += b"\0" * (SLOT - len(copy))
            for off in offs:
                img.seek(start + off)
                img.write(copy)


if __name__ == "__main__":
    main()
