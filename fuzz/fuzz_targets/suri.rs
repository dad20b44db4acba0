//! Storage URI parsing: never panics; normalizing is idempotent.
#![no_main]
use kzrescue::source::uri::StorageUri;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(u) = StorageUri::parse(s) {
        let n = u.normalize();
        let again = StorageUri::parse(&n).unwrap_or_else(|e| panic!("{n:?} does not parse back: {e}"));
        assert_eq!(again.normalize(), n);
    }
});
