//! Fuzzes the native nvlist decoder in both byte orders (byte 0 forced to 0,
//! byte 1 to 0 or 1). Whatever decodes must re-encode to a fixed point.
#![no_main]

use kzrescue::zfs::nvlist::native;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = data.to_vec();
    if let Some(b) = buf.first_mut() {
        *b = 0;
    }
    if let Some(b) = buf.get_mut(1) {
        *b &= 1;
    }
    if let Ok(p) = native::decode(&buf) {
        assert!(p.len <= buf.len());
        let again = native::encode(p.header, &p.list).expect("a decoded list re-encodes");
        let p2 = native::decode(&again).expect("our own encoding decodes");
        assert_eq!(p2.len, again.len());
        assert_eq!(
            native::encode(p2.header, &p2.list).unwrap(),
            again,
            "decode/encode is not a fixed point"
        );
    }
});
