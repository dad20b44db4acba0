//! Property tests of the parsers of untrusted iSCSI/SCSI bytes.

use kzrescue::source::iscsi::login::{self, OpOffer};
use kzrescue::source::iscsi::pdu::{Digests, Pdu, op};
use kzrescue::source::iscsi::scsi;
use proptest::prelude::*;

proptest! {
    #[test]
    fn pdu_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400), hd: bool, dd: bool, max in 0usize..1024) {
        let d = Digests { header: hd, data: dd };
        if let Ok((p, used)) = Pdu::decode(&bytes, max, d) {
            prop_assert!(used <= bytes.len());
            prop_assert!(p.data.len() <= max);
        }
    }

    #[test]
    fn pdu_roundtrip(flags: u8, itt: u32, data in proptest::collection::vec(any::<u8>(), 0..300), ahs_words in 0usize..4, hd: bool, dd: bool) {
        let mut p = Pdu::new(op::DATA_IN);
        p.set_flags(flags);
        p.set_itt(itt);
        p.ahs = vec![0x5a; ahs_words * 4];
        p.data = data.clone();
        let d = Digests { header: hd, data: dd };
        let bytes = p.encode(d).unwrap();
        let (q, used) = Pdu::decode(&bytes, 300, d).unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(&q.data, &data);
        prop_assert_eq!(q.itt(), itt);
        prop_assert_eq!(q.flags(), flags);
        // Any single flipped bit is caught by a digest or changes the decode.
        if hd && dd && !p.data.is_empty() {
            for i in [0usize, 20, bytes.len() - 1] {
                let mut bad = bytes.clone();
                bad[i] ^= 0x10;
                match Pdu::decode(&bad, 300, d) {
                    Err(_) => {}
                    Ok((r, _)) => prop_assert!(r != q, "bit flip at {} went unnoticed", i),
                }
            }
        }
    }

    #[test]
    fn text_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(pairs) = login::parse_text(&bytes) {
            let _ = login::parse_send_targets(&pairs);
            let _ = OpOffer::default().agree(&pairs);
        }
    }

    #[test]
    fn text_roundtrip(pairs in proptest::collection::vec(("[A-Za-z][A-Za-z0-9.]{0,20}", "[ -~&&[^=]]{0,40}"), 0..10)) {
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let back = login::parse_text(&login::encode_text(&refs)).unwrap();
        prop_assert_eq!(back, pairs);
    }

    #[test]
    fn scsi_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(s) = scsi::parse_sense(&bytes) { let _ = s.to_string(); }
        let _ = scsi::parse_inquiry(&bytes);
        let _ = scsi::parse_vpd83(&bytes);
        let _ = scsi::parse_report_luns(&bytes);
        if let Ok(c) = scsi::parse_capacity16(&bytes) { prop_assert!(c.bytes().is_some()); }
    }

    #[test]
    fn vpd83_roundtrip(ds in proptest::collection::vec((1u8..4, 0u8..3, 1u8..9, proptest::collection::vec(any::<u8>(), 0..40)), 0..6)) {
        let mut page = vec![0u8, 0x83, 0, 0];
        for (cs, assoc, ty, v) in &ds {
            page.extend_from_slice(&[*cs, (assoc << 4) | ty, 0, v.len() as u8]);
            page.extend_from_slice(v);
        }
        let len = (page.len() - 4) as u16;
        page[2..4].copy_from_slice(&len.to_be_bytes());
        let got = scsi::parse_vpd83(&page).unwrap();
        prop_assert_eq!(got.len(), ds.len());
        for (g, (cs, assoc, ty, v)) in got.iter().zip(&ds) {
            prop_assert_eq!((g.code_set, g.association, g.designator_type, &g.value), (*cs, *assoc, *ty, v));
        }
    }
}
