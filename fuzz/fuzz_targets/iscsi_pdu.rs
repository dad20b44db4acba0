//! iSCSI PDU decoding: BHS checks, AHS, padding, digests.
#![no_main]
use kzrescue::source::iscsi::pdu::{Digests, Pdu};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else { return };
    let digests = Digests { header: sel & 1 != 0, data: sel & 2 != 0 };
    let max = [0usize, 48, 8192, 262_144][(sel >> 2 & 3) as usize];
    if let Ok((pdu, used)) = Pdu::decode(bytes, max, digests) {
        assert!(used <= bytes.len());
        assert!(pdu.data.len() <= max);
        // What decodes re-encodes to the same bytes (padding is zero on
        // encode, so compare only when the input's padding was zero).
        let again = pdu.encode(digests).unwrap();
        let (back, _) = Pdu::decode(&again, max, digests).unwrap();
        assert_eq!(back.data, pdu.data);
        assert_eq!(back.ahs, pdu.ahs);
    }
});
