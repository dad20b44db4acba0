//! XDR nvlist codec: hand-checked bytes, error reporting, hostile input.

use kzrescue::zfs::nvlist::{NvList, NvValue, XdrStyle, decode_packed, xdr};
use kzrescue::{Error, ErrorKind};

/// A label-shaped list: the first pairs of zfs-pool-v15.dat plus a vdev_tree
/// with two children, written by a big-endian (SPARC) host.
fn sample() -> NvList {
    let child = |path: &str, guid: u64| {
        let mut c = NvList::new();
        c.set("type", NvValue::String("file".into()));
        c.set("guid", NvValue::UInt64(guid));
        c.set("path", NvValue::String(path.into()));
        c
    };
    let mut tree = NvList::new();
    tree.set("type", NvValue::String("mirror".into()));
    tree.set(
        "children",
        NvValue::NvListArray(vec![child("/a", 1), child("/b", 2)]),
    );
    let mut l = NvList::new();
    l.set("version", NvValue::UInt64(15));
    l.set("name", NvValue::String("v15-pool".into()));
    l.set("vdev_tree", NvValue::NvList(tree));
    l.set("features_for_read", NvValue::NvList(NvList::new()));
    l
}

#[test]
fn worked_example_bytes() {
    let bytes = xdr::encode([1, 0, 0, 0], &sample()).unwrap();
    let want_prefix = hex::decode(concat!(
        "01000000",
        "00000000",
        "00000001",
        "00000024",
        "00000020",
        "00000007",
        "76657273696f6e00",
        "00000008",
        "00000001",
        "000000000000000f",
        "00000024",
        "00000028",
        "00000004",
        "6e616d65",
        "00000009",
        "00000001",
        "00000008",
        "7631352d706f6f6c",
    ))
    .unwrap();
    assert_eq!(&bytes[..want_prefix.len()], &want_prefix[..]);
    assert_eq!(&bytes[bytes.len() - 8..], &[0u8; 8]);
    let p = decode_packed(&bytes).unwrap();
    assert_eq!(p.list, sample());
    assert_eq!(p.len, bytes.len());
    assert_eq!(p.header, [1, 0, 0, 0]);
    assert_eq!(p.style, XdrStyle::default());
    // Trailing zero fill is ignored.
    let mut padded = bytes.clone();
    padded.resize(bytes.len() + 1000, 0);
    assert_eq!(decode_packed(&padded).unwrap().len, bytes.len());
}

/// The structure, offset and detail of a [`ErrorKind::Corrupt`] error.
fn corrupt_of(e: Error) -> (String, u64, String) {
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    (
        e.structure().unwrap().to_string(),
        e.offset().unwrap(),
        e.detail().unwrap().to_string(),
    )
}

/// Finds `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap()
}

#[test]
fn errors_name_the_pair_path_and_offset() {
    let bytes = xdr::encode([1, 0, 0, 0], &sample()).unwrap();
    // Break the second child's "path" string length (value "/b").
    let at = find(&bytes, b"/b") - 4;
    let mut bad = bytes.clone();
    bad[at..at + 4].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
    let (s, off, _) = corrupt_of(xdr::decode(&bad).unwrap_err());
    assert_eq!(s, "nvlist pair vdev_tree.children[1].path");
    assert_eq!(off, at as u64);

    // A wrong decoded size of "version" (first pair at byte 12).
    let mut bad = bytes.clone();
    bad[16..20].copy_from_slice(&40u32.to_be_bytes());
    let (s, off, d) = corrupt_of(xdr::decode(&bad).unwrap_err());
    assert_eq!((s.as_str(), off), ("nvlist pair version", 16));
    assert!(d.contains("decoded size 40, expected 32"), "{d}");

    // A wrong encoded size.
    let mut bad = bytes.clone();
    bad[12..16].copy_from_slice(&40u32.to_be_bytes());
    let (s, off, _) = corrupt_of(xdr::decode(&bad).unwrap_err());
    assert_eq!((s.as_str(), off), ("nvlist pair version", 12));

    // A NATIVE or unknown header byte.
    let mut bad = bytes.clone();
    bad[0] = 7;
    let (s, off, _) = corrupt_of(decode_packed(&bad).unwrap_err());
    assert_eq!((s.as_str(), off), ("nvlist header", 0));
    assert!(xdr::decode(&bytes[..3]).is_err());
    // An empty buffer: the header was expected at its end.
    let (s, off, _) = corrupt_of(decode_packed(&[]).unwrap_err());
    assert_eq!((s.as_str(), off), ("nvlist header", 0));
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let bytes = xdr::encode([1, 1, 0, 0], &sample()).unwrap();
    for cut in 0..bytes.len() {
        let e = xdr::decode(&bytes[..cut]).unwrap_err();
        let (_, off, _) = corrupt_of(e);
        assert!(off <= cut as u64, "offset {off} past cut {cut}");
    }
}

#[test]
fn duplicates_and_depth_are_refused() {
    // Duplicate name in a NV_UNIQUE_NAME list.
    let mut l = NvList::new();
    l.pairs.push(kzrescue::zfs::nvlist::NvPair {
        name: "a".into(),
        value: NvValue::UInt64(1),
    });
    l.pairs.push(kzrescue::zfs::nvlist::NvPair {
        name: "a".into(),
        value: NvValue::UInt64(2),
    });
    assert!(xdr::encode([1, 0, 0, 0], &l).is_err());
    l.nvflag = 0;
    let bytes = xdr::encode([1, 0, 0, 0], &l).unwrap();
    assert_eq!(xdr::decode(&bytes).unwrap().list, l);
    let mut bad = bytes.clone();
    bad[11] = 1; // nvflag := NV_UNIQUE_NAME
    let (s, _, _) = corrupt_of(xdr::decode(&bad).unwrap_err());
    assert_eq!(s, "nvlist pair a");

    // 20 nested lists are fine, 21 are not.
    let nest = |n: usize| {
        let mut l = NvList::new();
        for _ in 0..n {
            let mut outer = NvList::new();
            outer.set("x", NvValue::NvList(l));
            l = outer;
        }
        l
    };
    let ok = xdr::encode([1, 0, 0, 0], &nest(20)).unwrap();
    assert_eq!(xdr::decode(&ok).unwrap().list, nest(20));
    assert!(xdr::encode([1, 0, 0, 0], &nest(21)).is_err());
    // Hand-build 21 levels: splice one more level into the 20-level bytes.
    let mut deep = ok[..12].to_vec();
    let inner = &ok[4..];
    let pair_len = 20 + 4 + 8 + inner.len() as u32 - 8;
    deep.extend_from_slice(&(pair_len).to_be_bytes());
    deep.extend_from_slice(&56u32.to_be_bytes());
    deep.extend_from_slice(&1u32.to_be_bytes());
    deep.extend_from_slice(b"x\0\0\0");
    deep.extend_from_slice(&19u32.to_be_bytes());
    deep.extend_from_slice(&1u32.to_be_bytes());
    deep.extend_from_slice(inner);
    deep.extend_from_slice(&[0; 8]);
    let (s, _, d) = corrupt_of(xdr::decode(&deep).unwrap_err());
    assert!(s.starts_with("nvlist pair x.x.x"), "{s}");
    assert!(d.contains("deeper than 20"), "{d}");
}

#[test]
fn huge_counts_fail_before_allocating() {
    // UINT64_ARRAY claiming 2^31-1 elements in a 64-byte buffer.
    let mut b = hex::decode("01000000 00000000 00000001".replace(' ', "")).unwrap();
    b.extend_from_slice(&64u32.to_be_bytes());
    b.extend_from_slice(&64u32.to_be_bytes());
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(b"a\0\0\0");
    b.extend_from_slice(&16u32.to_be_bytes());
    b.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
    b.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
    b.extend_from_slice(&[0; 16]);
    let (s, _, d) = corrupt_of(xdr::decode(&b).unwrap_err());
    assert_eq!(s, "nvlist pair a");
    assert!(d.contains("cannot fit"), "{d}");
}
