//! Fuzzes the host-data payload decoder (XDR nvlist → typed fields): it must
//! return an error or host data that encodes and decodes back to itself.
#![no_main]

use kzrescue::hostdata::{payload_decode, payload_encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = payload_decode(data) {
        let again = payload_encode(&d).expect("decoded host data encodes");
        let d2 = payload_decode(&again).expect("re-encoded host data decodes");
        assert_eq!(d, d2, "decode/encode/decode is not stable");
    }
});
