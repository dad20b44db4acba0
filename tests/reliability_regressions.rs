//! Regression tests for crashes found by the fuzz runs of issue 8
//! (tests/FUZZING.md). Each input is the minimized or original crash file,
//! committed under fuzz/artifacts/<target>/ so the smoke test replays it too.

mod common;

/// zone_xml: an XML error whose message spans two lines (the fuzz target
/// asserts one-line errors).
#[test]
fn zone_xml_error_is_one_line() {
    let p = common::root()
        .join("fuzz/artifacts/zone_xml/crash-a1bf712aaefcf4b545beebaedbf4895e65e83767");
    let text = String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    for r in [
        kzrescue::zone::xml::parse_xml(&text),
        kzrescue::zone::parse_config(&text, None),
    ] {
        if let Err(e) = r {
            let m = e.to_string();
            assert_eq!(m.lines().count(), 1, "{m:?}");
        }
    }
}

/// label: a vdev_phys whose nvlist holds a double NaN. Decoding, encoding
/// and decoding again gave the same bits, but the lists compared unequal
/// (NaN != NaN), so a phys_path plan on such a label was refused as "does
/// not read back as valid". Values now compare by the bytes they encode to.
#[test]
fn nan_double_reads_back_equal() {
    use kzrescue::zfs::nvlist::{self, NvValue};
    let p =
        common::root().join("fuzz/artifacts/label/crash-ca852a9844481814dfa8e42748a24093cb913409");
    let input = std::fs::read(p).unwrap();
    // the harness drops the first (mode) byte; the rest is the start of a
    // zero-filled vdev_phys
    let mut phys = input[1..].to_vec();
    phys.resize(4096, 0);
    let packed = nvlist::decode_packed(&phys).unwrap();
    let NvValue::Double(x) = packed.list.pairs[0].value else {
        panic!("expected a double: {:?}", packed.list);
    };
    assert!(x.is_nan());
    let again = nvlist::decode_packed(&packed.encode().unwrap()).unwrap();
    assert_eq!(again.list, packed.list);
    assert_ne!(NvValue::Double(0.0), NvValue::Double(-0.0));
}
