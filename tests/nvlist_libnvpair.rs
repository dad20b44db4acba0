//! The real libnvpair (OpenZFS userland, via python3 ctypes) as the oracle
//! for every data type and both encodings:
//! - libnvpair packs a list of all 27 types (XDR and NATIVE): we decode both
//!   to the same list, libnvpair's own view of it equals ours, and we
//!   re-encode both byte for byte;
//! - we encode (XDR in our default style, NATIVE little-endian): libnvpair
//!   unpacks it and reads back every value we wrote.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use kzrescue::zfs::nvlist::{NvList, NvValue, XdrStyle, decode_packed, native, xdr};
use serde_json::{Value, json};

fn script() -> PathBuf {
    common::root().join("tests/nvlist_libnvpair.py")
}

/// Whether python3 and libnvpair are usable (SKIPPED line / CI failure if not).
fn have_libnvpair(test: &str) -> bool {
    if !common::require_tool("python3", "python3", test) {
        return false;
    }
    let st = Command::new("python3")
        .arg(script())
        .arg("probe")
        .output()
        .expect("run python3");
    if st.status.code() == Some(77) {
        if common::in_ci() {
            panic!("{test}: libnvpair.so.3 missing (Debian package libnvpair3linux) and CI=true");
        }
        println!(
            "SKIPPED {test}: libnvpair.so.3 not found (install Debian package libnvpair3linux)"
        );
        return false;
    }
    true
}

/// libnvpair's JSON view of the packed list in `file`.
fn libnvpair_dump(file: &Path) -> Value {
    let out = Command::new("python3")
        .arg(script())
        .arg("dump")
        .arg(file)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "libnvpair could not unpack {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("dump JSON")
}

/// Our list in the dump's JSON shape.
fn to_json(l: &NvList) -> Value {
    let pairs: Vec<Value> = l
        .pairs
        .iter()
        .map(|p| json!([p.name, p.value.type_code(), value_json(&p.value)]))
        .collect();
    json!({"version": l.version, "nvflag": l.nvflag, "pairs": pairs})
}

fn value_json(v: &NvValue) -> Value {
    match v {
        NvValue::Boolean => Value::Null,
        NvValue::BooleanValue(b) => json!(b),
        NvValue::Byte(x) | NvValue::UInt8(x) => json!(x),
        NvValue::Int8(x) => json!(x),
        NvValue::Int16(x) => json!(x),
        NvValue::UInt16(x) => json!(x),
        NvValue::Int32(x) => json!(x),
        NvValue::UInt32(x) => json!(x),
        NvValue::Int64(x) | NvValue::HrTime(x) => json!(x),
        NvValue::UInt64(x) => json!(x),
        NvValue::Double(x) => json!(format!("0x{:016x}", x.to_bits())),
        NvValue::String(s) => json!(s),
        NvValue::ByteArray(a) | NvValue::UInt8Array(a) => json!(a),
        NvValue::BooleanArray(a) => json!(a),
        NvValue::Int8Array(a) => json!(a),
        NvValue::Int16Array(a) => json!(a),
        NvValue::UInt16Array(a) => json!(a),
        NvValue::Int32Array(a) => json!(a),
        NvValue::UInt32Array(a) => json!(a),
        NvValue::Int64Array(a) => json!(a),
        NvValue::UInt64Array(a) => json!(a),
        NvValue::StringArray(a) => json!(a),
        NvValue::NvList(l) => to_json(l),
        NvValue::NvListArray(a) => Value::Array(a.iter().map(to_json).collect()),
    }
}

fn all_type_codes(l: &NvList, seen: &mut Vec<i32>) {
    for p in &l.pairs {
        seen.push(p.value.type_code());
        match &p.value {
            NvValue::NvList(l) => all_type_codes(l, seen),
            NvValue::NvListArray(a) => a.iter().for_each(|l| all_type_codes(l, seen)),
            _ => {}
        }
    }
}

/// Runs the script's `pack`: (XDR bytes, NATIVE bytes) made by libnvpair.
fn libnvpair_pack(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let (x, n) = (dir.join("xdr.bin"), dir.join("native.bin"));
    let out = Command::new("python3")
        .arg(script())
        .arg("pack")
        .arg(&x)
        .arg(&n)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "pack: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (std::fs::read(x).unwrap(), std::fs::read(n).unwrap())
}

#[test]
fn libnvpair_packs_we_decode_and_reencode_exactly() {
    let test = "libnvpair_packs_we_decode_and_reencode_exactly";
    if !have_libnvpair(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (xbytes, nbytes) = libnvpair_pack(dir.path());

    let px = decode_packed(&xbytes).expect("decode libnvpair XDR");
    let mut codes = Vec::new();
    all_type_codes(&px.list, &mut codes);
    codes.sort();
    codes.dedup();
    assert_eq!(
        codes,
        (1..=27).collect::<Vec<i32>>(),
        "all 27 types present"
    );
    // libnvpair (userland) sign-extends small words and over-counts empty arrays.
    assert_eq!(
        px.style,
        XdrStyle {
            sign_extend: true,
            empty_array_quirk: true
        }
    );
    assert_eq!(
        to_json(&px.list),
        libnvpair_dump(&dir.path().join("xdr.bin")),
        "our decode of libnvpair's XDR vs libnvpair's own view"
    );
    assert_eq!(px.encode().unwrap(), xbytes, "XDR re-encode is byte-exact");
    assert_eq!(
        xdr::encode_with(px.header, &px.list, px.style).unwrap(),
        xbytes
    );

    let pn = decode_packed(&nbytes).expect("decode libnvpair NATIVE");
    assert_eq!(pn.header[..2], [0, 1], "native, little-endian host");
    assert_eq!(pn.list, px.list, "NATIVE and XDR decode to the same list");
    assert_eq!(pn.len, nbytes.len());
    assert_eq!(
        native::encode(pn.header, &pn.list).unwrap(),
        nbytes,
        "NATIVE re-encode is byte-exact"
    );
}

#[test]
fn we_encode_libnvpair_unpacks() {
    let test = "we_encode_libnvpair_unpacks";
    if !have_libnvpair(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (xbytes, _) = libnvpair_pack(dir.path());
    let list = decode_packed(&xbytes).unwrap().list;
    let want = to_json(&list);

    // Our own style: zero-extended small words, exact encoded sizes.
    let ours = xdr::encode([1, 1, 0, 0], &list).unwrap();
    assert_ne!(ours, xbytes, "our style differs from libnvpair's");
    let f = dir.path().join("ours-xdr.bin");
    std::fs::write(&f, &ours).unwrap();
    assert_eq!(libnvpair_dump(&f), want, "libnvpair reads our XDR");

    // A big-endian writer byte is informational for XDR.
    let ours_be = xdr::encode([1, 0, 0, 0], &list).unwrap();
    std::fs::write(&f, &ours_be).unwrap();
    assert_eq!(
        libnvpair_dump(&f),
        want,
        "libnvpair reads our XDR (BE header)"
    );

    let ours_native = native::encode([0, 1, 0, 0], &list).unwrap();
    let f = dir.path().join("ours-native.bin");
    std::fs::write(&f, &ours_native).unwrap();
    assert_eq!(libnvpair_dump(&f), want, "libnvpair reads our NATIVE");

    // Big-endian native cannot be unpacked on this host by libnvpair; it
    // must round-trip through our own codec and equal the LE decode.
    let be = native::encode([0, 0, 0, 0], &list).unwrap();
    assert_eq!(be.len(), ours_native.len());
    assert_ne!(be, ours_native);
    let back = decode_packed(&be).unwrap();
    assert_eq!(back.list, list);
    assert_eq!(native::encode(back.header, &back.list).unwrap(), be);
}
