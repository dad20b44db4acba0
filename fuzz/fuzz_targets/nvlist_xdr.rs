//! Fuzzes the XDR nvlist decoder (byte 0 forced to 1 so the body is
//! reached). Whatever decodes must re-encode, and the re-encoding must be a
//! fixed point of decode → encode.
#![no_main]

use kzrescue::zfs::nvlist::xdr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = data.to_vec();
    if let Some(b) = buf.first_mut() {
        *b = 1;
    }
    if let Ok(p) = xdr::decode(&buf) {
        assert!(p.len <= buf.len());
        let again = p.encode().expect("a decoded list re-encodes");
        let p2 = xdr::decode(&again).expect("our own encoding decodes");
        assert_eq!(p2.encode().unwrap(), again, "decode/encode is not a fixed point");
    }
});
