#!/usr/bin/env python3
"""Drive the real libnvpair (OpenZFS userland, libnvpair.so.3) for kzrescue's
nvlist oracle tests.

  nvlist_libnvpair.py pack XDR_OUT NATIVE_OUT
      build a list holding every data type (1..27), nested lists, empty
      arrays and small values with the top bit set; write nvlist_pack's
      output in NV_ENCODE_XDR and NV_ENCODE_NATIVE.
  nvlist_libnvpair.py repack IN OUT [IN OUT]...
      nvlist_unpack each IN and write it packed as NV_ENCODE_NATIVE to OUT.
  nvlist_libnvpair.py probe
      exit 0 when libnvpair loads (77 when it does not).
  nvlist_libnvpair.py dump FILE...
      nvlist_unpack each FILE and print it as one line of JSON: {"version", "nvflag",
      "pairs": [[name, type, value], ...]}, values read with nvpair_value_*
      and cross-checked with nvlist_lookup_*. Exit 1 when unpack fails.

Exit status 77: libnvpair cannot be loaded.
"""
import ctypes as C
import json
import struct
import sys

try:
    lib = C.CDLL("libnvpair.so.3")
except OSError as e:
    print(f"cannot load libnvpair.so.3: {e}", file=sys.stderr)
    sys.exit(77)

P = C.c_void_p
NV_UNIQUE_NAME, NV_UNIQUE_NAME_TYPE = 1, 2
NV_ENCODE_NATIVE, NV_ENCODE_XDR = 0, 1

# (type code, suffix of nvlist_add_/nvpair_value_/nvlist_lookup_, ctypes element)
SCALARS = {
    21: ("boolean_value", C.c_int),
    2: ("byte", C.c_ubyte),
    22: ("int8", C.c_int8),
    23: ("uint8", C.c_uint8),
    3: ("int16", C.c_int16),
    4: ("uint16", C.c_uint16),
    5: ("int32", C.c_int32),
    6: ("uint32", C.c_uint32),
    7: ("int64", C.c_int64),
    8: ("uint64", C.c_uint64),
    18: ("hrtime", C.c_int64),
    27: ("double", C.c_double),
}
ARRAYS = {
    24: ("boolean_array", C.c_int),
    10: ("byte_array", C.c_ubyte),
    25: ("int8_array", C.c_int8),
    26: ("uint8_array", C.c_uint8),
    11: ("int16_array", C.c_int16),
    12: ("uint16_array", C.c_uint16),
    13: ("int32_array", C.c_int32),
    14: ("uint32_array", C.c_uint32),
    15: ("int64_array", C.c_int64),
    16: ("uint64_array", C.c_uint64),
}


def call(fn, *args):
    err = fn(*args)
    if err != 0:
        raise OSError(err, f"{fn.__name__} failed")


def alloc(nvflag=NV_UNIQUE_NAME):
    nvl = P()
    call(lib.nvlist_alloc, C.byref(nvl), C.c_uint(nvflag), 0)
    return nvl


def add(nvl, name, code, value):
    n = name.encode()
    if code == 1:
        call(lib.nvlist_add_boolean, nvl, n)
    elif code in SCALARS:
        suffix, ct = SCALARS[code]
        call(getattr(lib, "nvlist_add_" + suffix), nvl, n, ct(value))
    elif code == 9:
        call(lib.nvlist_add_string, nvl, n, value.encode())
    elif code in ARRAYS:
        suffix, ct = ARRAYS[code]
        arr = (ct * max(len(value), 1))(*value)
        call(getattr(lib, "nvlist_add_" + suffix), nvl, n, arr, C.c_uint(len(value)))
    elif code == 17:
        arr = (C.c_char_p * max(len(value), 1))(*[s.encode() for s in value])
        call(lib.nvlist_add_string_array, nvl, n, arr, C.c_uint(len(value)))
    elif code == 19:
        call(lib.nvlist_add_nvlist, nvl, n, value)
    elif code == 20:
        arr = (P * max(len(value), 1))(*value)
        call(lib.nvlist_add_nvlist_array, nvl, n, arr, C.c_uint(len(value)))
    else:
        raise ValueError(code)


def build():
    top = alloc()
    deeper = alloc(NV_UNIQUE_NAME_TYPE)
    add(deeper, "s", 9, "x")
    add(deeper, "s", 8, 7)  # same name, other type: allowed by UNIQUE_NAME_TYPE
    inner = alloc(0)
    add(inner, "inner_u64", 8, 42)
    add(inner, "inner_u64", 8, 43)  # nvflag 0: duplicates are kept
    add(inner, "deeper", 19, deeper)
    e0, e1, e2 = alloc(), alloc(), alloc()
    add(e0, "a", 8, 1)
    add(e2, "b", 9, "c")
    add(e2, "children", 20, [e0, e1])
    pairs = [
        ("boolean", 1, None),
        ("boolean_value", 21, 1),
        ("byte", 2, 0xFF),
        ("int8", 22, -5),
        ("uint8", 23, 200),
        ("int16", 3, -2),
        ("uint16", 4, 65535),
        ("int32", 5, -100000),
        ("uint32", 6, 0xFFFFFFFE),
        ("int64", 7, -(2**62)),
        ("uint64", 8, 2**64 - 1),
        ("string", 9, "hello, nvlist"),
        ("byte_array", 10, [0, 1, 0xFE, 0xFF, 7]),
        ("int16_array", 11, [-1, 2, -32768]),
        ("uint16_array", 12, [0, 65535]),
        ("int32_array", 13, [-1, 0x7FFFFFFF]),
        ("uint32_array", 14, [1, 2, 3]),
        ("int64_array", 15, [-1, 2**63 - 1]),
        ("uint64_array", 16, [2**64 - 1, 0]),
        ("string_array", 17, ["a", "", "three"]),
        ("hrtime", 18, 123456789012),
        ("nvlist", 19, inner),
        ("nvlist_array", 20, [e0, e1, e2]),
        ("boolean_array", 24, [1, 0, 1]),
        ("int8_array", 25, [-128, 127, -1]),
        ("uint8_array", 26, [255, 0, 128]),
        ("double", 27, 2.718281828),
    ]
    for name, code, value in pairs:
        add(top, name, code, value)
    for code in sorted(list(ARRAYS) + [17, 20]):
        add(top, f"empty_{code}", code, [])
    return top


def pack(nvl, encoding):
    buf = C.POINTER(C.c_char)()
    size = C.c_size_t()
    call(lib.nvlist_pack, nvl, C.byref(buf), C.byref(size), encoding, 0)
    return C.string_at(buf, size.value)


def value(code, get):
    """Reads one value with get(suffix, *out_pointers)."""
    if code == 1:
        return None
    if code in SCALARS:
        suffix, ct = SCALARS[code]
        v = ct()
        get(suffix, C.byref(v))
        if code == 21:
            return bool(v.value)
        if code == 27:
            return "0x%016x" % struct.unpack(">Q", struct.pack(">d", v.value))[0]
        return v.value
    if code == 9:
        v = C.c_char_p()
        get("string", C.byref(v))
        return v.value.decode()
    n = C.c_uint()
    if code in ARRAYS:
        suffix, ct = ARRAYS[code]
        p = C.POINTER(ct)()
        get(suffix, C.byref(p), C.byref(n))
        vals = [p[i] for i in range(n.value)]
        return [bool(x) for x in vals] if code == 24 else vals
    if code == 17:
        p = C.POINTER(C.c_char_p)()
        get("string_array", C.byref(p), C.byref(n))
        return [p[i].decode() for i in range(n.value)]
    if code == 19:
        p = P()
        get("nvlist", C.byref(p))
        return describe(p)
    if code == 20:
        p = C.POINTER(P)()
        get("nvlist_array", C.byref(p), C.byref(n))
        return [describe(P(p[i])) for i in range(n.value)]
    raise ValueError(code)


def describe(nvl):
    nvflag = lib.nvlist_nvflag(nvl)
    out = {
        "version": C.c_int32.from_address(nvl.value).value,
        "nvflag": nvflag,
        "pairs": [],
    }
    nvp = lib.nvlist_next_nvpair(nvl, None)
    while nvp:
        nvp = P(nvp)
        name = lib.nvpair_name(nvp).decode()
        code = lib.nvpair_type(nvp)
        v = value(code, lambda s, *a: call(getattr(lib, "nvpair_value_" + s), nvp, *a))
        if nvflag == NV_UNIQUE_NAME:
            # The same value through the by-name lookup API.
            if code == 1:
                call(lib.nvlist_lookup_boolean, nvl, name.encode())
            else:
                lv = value(
                    code,
                    lambda s, *a: call(
                        getattr(lib, "nvlist_lookup_" + s), nvl, name.encode(), *a
                    ),
                )
                if lv != v:
                    sys.exit(f"lookup of {name} gives {lv!r}, walk gives {v!r}")
        out["pairs"].append([name, code, v])
        nvp = lib.nvlist_next_nvpair(nvl, nvp)
    return out


lib.nvlist_next_nvpair.restype = P
lib.nvlist_next_nvpair.argtypes = [P, P]
lib.nvpair_name.restype = C.c_char_p
lib.nvpair_name.argtypes = [P]
lib.nvpair_type.argtypes = [P]
lib.nvlist_nvflag.restype = C.c_uint
lib.nvlist_nvflag.argtypes = [P]
lib.nvlist_free.argtypes = [P]


def main():
    if sys.argv[1] == "pack":
        top = build()
        with open(sys.argv[2], "wb") as f:
            f.write(pack(top, NV_ENCODE_XDR))
        with open(sys.argv[3], "wb") as f:
            f.write(pack(top, NV_ENCODE_NATIVE))
    elif sys.argv[1] == "repack":
        args = sys.argv[2:]
        for src, dst in zip(args[0::2], args[1::2]):
            data = open(src, "rb").read()
            buf = C.create_string_buffer(data, len(data))
            nvl = P()
            call(lib.nvlist_unpack, buf, C.c_size_t(len(data)), C.byref(nvl), 0)
            with open(dst, "wb") as f:
                f.write(pack(nvl, NV_ENCODE_NATIVE))
            lib.nvlist_free(nvl)
    elif sys.argv[1] == "probe":
        pass
    elif sys.argv[1] == "dump":
        for path in sys.argv[2:]:
            data = open(path, "rb").read()
            buf = C.create_string_buffer(data, len(data))
            nvl = P()
            err = lib.nvlist_unpack(buf, C.c_size_t(len(data)), C.byref(nvl), 0)
            if err != 0:
                sys.exit(f"nvlist_unpack {path}: error {err}")
            print(json.dumps(describe(nvl)))
            lib.nvlist_free(nvl)
    else:
        sys.exit(__doc__)


main()
