#!/usr/bin/env python3
"""An independent reader/writer of kzrescue host data, written from
formats/hostdata.md alone (not from the Rust code), used by
tests/hostdata_spec.rs to check that the document is complete and that
kzrescue follows it.

    hostdata_independent.py read  IMAGE KEYFILE          -> JSON on stdout
    hostdata_independent.py write IMAGE KEYFILE JSON     (JSON: payload fields + generation)
    hostdata_independent.py slot  SLOTFILE KEYFILE       -> the slot's state (4.5), one word
    hostdata_independent.py keyid KEYFILE                -> the key id (2), hex

In the write JSON, "other_pairs" (top level and inside "suspend") is a list
of [name, type code, value] written after the known pairs (5.2).

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


BLANKS = " \t"


def key_lines(text):
    # 6: "\n" or "\r\n" line ends, a BOM ignored, blanks (space, tab) trimmed
    if text.startswith("\ufeff"):
        text = text[1:]
    return [(l[:-1] if l.endswith("\r") else l).strip(BLANKS) for l in text.split("\n")]


def words(line):
    # keyword, then the value after one or more blanks
    for i, c in enumerate(line):
        if c in BLANKS:
            return line[:i], line[i:].strip(BLANKS)
    return line, ""


def read_key(path):
    text = open(path, encoding="utf-8").read()
    lines = [l for l in key_lines(text) if l and not l.startswith("#")]
    if lines and words(lines[0]) == ("kzrescue-hostdata-key", "1"):
        key = None
        for l in lines[1:]:
            k, v = words(l)
            if k == "aes-128-ccm" and key is None:
                assert len(v) == 32
                key = bytes.fromhex(v)
            elif k == "zone":
                pass
            else:
                raise SystemExit("bad key file line")
        if key is None:
            raise SystemExit("no key")
        return key
    # 6.1: a zonecfg export with a keysource resource
    inside, key = False, None
    for l in key_lines(text):
        if words(l) == ("add", "keysource"):
            inside = True
        elif inside and l == "end":
            inside = False
        elif inside:
            k, v = words(l)
            if k != "set" or not v.startswith("raw"):
                continue
            v = v[3:].lstrip(BLANKS)
            if not v.startswith("="):
                continue
            v = v[1:].strip(BLANKS)
            if v.startswith('"') != v.endswith('"') or v == '"':
                raise SystemExit("unbalanced quote")
            if v.startswith('"'):
                v = v[1:-1]
            assert key is None and len(v) == 32
            key = bytes.fromhex(v)
    if key is None:
        raise SystemExit("no key")
    return key


def key_id(key):
    return hashlib.sha256(b"kzrescue hostdata key id v1" + key).digest()[:8]


# --- XDR nvlist subset (formats/hostdata.md 5.1) ---
def xdr_string(buf, pos):
    (n,) = struct.unpack_from(">I", buf, pos)
    s = buf[pos + 4:pos + 4 + n].decode()
    return s, pos + 4 + ((n + 3) & ~3)


class BadPayload(Exception):
    pass


def need(cond, why):
    if not cond:
        raise BadPayload(why)


def xdr_list(buf, pos, depth=0, flags=None):
    """Decodes one list into a dict (names unique, 5: NV_UNIQUE_NAME binds
    every list). flags collects (depth, name-path, version, nvflag)."""
    version, flag = struct.unpack_from(">iI", buf, pos)
    need(version == 0 and flag <= 3, "list version/nvflag")
    if flags is not None:
        flags.append((depth, version, flag))
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
            sub = []
            v, p = xdr_list(buf, p, depth + 1, sub)
            need(sub[0][1] == 0, "embedded list version")
            v = {"__nvflag": sub[0][2], "pairs": v}
            vsz = 24
        else:
            raise BadPayload("type %d not in the subset" % typ)
        need(p - start == esz, (name, p - start, esz))
        al = lambda x: (x + 7) & ~7
        need(dsz == al(16 + len(name.encode()) + 1) + al(vsz), (name, dsz))
        need(name not in out, "duplicate name " + name)
        out[name] = (typ, v)
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


KNOWN = [("payload_version", 6), ("zonename", 9), ("owner_hostid", 6), ("owner_hostname", 9),
         ("state", 9), ("be_name", 9), ("be_uuid", 9), ("last_update", 7), ("tod_offset_ns", 7),
         ("suspend", 19), ("obp_vars", 19), ("generation", 8)]
SUSPEND = [("suspended", 21), ("image", 9), ("time", 7)]


def plain(typ, v):
    if typ == 19:
        return {k: plain(t, x) for k, (t, x) in v["pairs"].items()}
    return v


def check_payload(lst, gen):
    """5.2: every known pair once with its type, in any order; unknown pairs
    allowed; suspend likewise; obp_vars all strings; embedded nvflag 1."""
    for name, typ in KNOWN:
        need(name in lst and lst[name][0] == typ, "pair " + name)
    need(lst["payload_version"][1] == 1, "payload_version")
    for name in ("suspend", "obp_vars"):
        need(lst[name][1]["__nvflag"] == 1, name + " nvflag")
    sus = lst["suspend"][1]["pairs"]
    for name, typ in SUSPEND:
        need(name in sus and sus[name][0] == typ, "suspend/" + name)
    need(all(t == 9 for t, _ in lst["obp_vars"][1]["pairs"].values()), "obp_vars type")
    u = lst["be_uuid"][1]
    need(u == "" or (len(u) == 36 and all(c == "-" if i in (8, 13, 18, 23) else c in
                                            "0123456789abcdefABCDEF" for i, c in enumerate(u))),
         "be_uuid")
    need(lst["generation"][1] == gen, "generation")
    out = {k: plain(t, v) for k, (t, v) in lst.items() if k not in ("obp_vars",)}
    out["obp_vars"] = {k: v for k, (t, v) in lst["obp_vars"][1]["pairs"].items()}
    out["other_pairs"] = [k for k in lst if k not in dict(KNOWN)]
    out["suspend_other_pairs"] = [k for k in sus if k not in dict(SUSPEND)]
    return out


def payload(d):
    suspend = [("suspended", 21, d["suspend"]["suspended"]), ("image", 9, d["suspend"]["image"]),
               ("time", 7, d["suspend"]["time"])]
    suspend += [tuple(p) for p in d["suspend"].get("other_pairs", [])]
    obp = [(k, 9, v) for k, v in d["obp_vars"]]
    pairs = [("payload_version", 6, 1), ("zonename", 9, d["zonename"]),
             ("owner_hostid", 6, d["owner_hostid"]), ("owner_hostname", 9, d["owner_hostname"]),
             ("state", 9, d["state"]), ("be_name", 9, d["be_name"]), ("be_uuid", 9, d["be_uuid"]),
             ("last_update", 7, d["last_update"]), ("tod_offset_ns", 7, d["tod_offset_ns"]),
             ("suspend", 19, suspend), ("obp_vars", 19, obp), ("generation", 8, d["generation"])]
    pairs += [tuple(p) for p in d.get("other_pairs", [])]
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
        pt = AESCCM(key, tag_length=16).decrypt(nonce, body, aad_of(h))
    except Exception:
        return {"state": "tampered", "generation": gen}
    try:
        need(len(pt) >= 4 and pt[0] == 1, "not XDR")
        lst, end = xdr_list(pt, 4)
        need(end == len(pt), "trailing bytes")
        return {"state": "valid", "generation": gen, "payload": check_payload(lst, gen)}
    except (BadPayload, struct.error, UnicodeDecodeError) as e:
        return {"state": "bad-payload", "generation": gen, "why": str(e)}


def main():
    if sys.argv[1] == "keyid":
        print(key_id(read_key(sys.argv[2])).hex())
        return
    if sys.argv[1] == "slot":
        print(read_slot(open(sys.argv[2], "rb").read(), read_key(sys.argv[3]))["state"])
        return
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
