//! Fuzzes the undo-journal reader: arbitrary bytes, and arbitrary bodies
//! re-sealed with a valid SHA-256 so that the parser behind the checksum is
//! reached. It must return an error or a journal that re-encodes to itself.
#![no_main]

use kzrescue::repair::journal::Journal;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut sealed = data.to_vec();
    if sealed.len() >= 8 {
        sealed[..8].copy_from_slice(b"KZJRNL\r\n");
    }
    let d = Sha256::digest(&sealed);
    sealed.extend_from_slice(&d);
    check(&sealed);
});

fn check(bytes: &[u8]) {
    if let Ok(j) = Journal::decode(bytes) {
        let again = j.encode().expect("a decoded journal re-encodes");
        assert_eq!(again, bytes, "decode/encode is not the identity");
    }
}
