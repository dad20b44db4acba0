//! Fuzzes the host-data container reader: arbitrary slot bytes, and the same
//! bytes with the magic set and both CRCs recomputed so that the framing
//! checks, the key-id check and AES-CCM verification behind them are reached.
//! It must never panic, and a copy that opens must re-serialize to its input.
#![no_main]

use kzrescue::hostdata::HostKey;
use kzrescue::hostdata::container::{self, Slot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut forged = data.to_vec();
    if forged.len() >= container::HEADER_LEN {
        forged[..8].copy_from_slice(&container::MAGIC);
        forged[8..12].copy_from_slice(&[0, 1, 0, 64]);
        container::fix_crcs(&mut forged);
        check(&forged);
    }
});

fn check(bytes: &[u8]) {
    let mut k = [7u8; 16];
    let key = HostKey::from_bytes(&mut k);
    if let Slot::Sealed(s) = container::parse(bytes) {
        let copy = s.to_bytes();
        assert_eq!(&bytes[..copy.len()], &copy[..], "sealed copy does not re-serialize");
        if let Ok(plain) = s.open(&key) {
            assert_eq!(plain.len(), s.header.payload_len as usize);
        }
        let _ = kzrescue::hostdata::store::judge(bytes, Some(&key));
    }
}
