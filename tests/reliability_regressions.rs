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
