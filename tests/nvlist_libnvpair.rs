//! The real libnvpair (OpenZFS userland, via python3 ctypes) as the oracle
//! for every data type and both encodings:
//! - libnvpair packs a list of all 27 types (XDR and NATIVE): we decode both
//!   to the same list, libnvpair's own view of it equals ours, and we
//!   re-encode both byte for byte;
//! - we encode (XDR in our default style, NATIVE little-endian): libnvpair
//!   unpacks it and reads back every value we wrote.

mod common;

use std::path::Path;
use std::process::Command;

use common::nvlist::{have_libnvpair, libnvpair_dump, script, to_json};
use kzrescue::zfs::nvlist::{NvList, NvValue, XdrStyle, decode_packed, native, xdr};

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
