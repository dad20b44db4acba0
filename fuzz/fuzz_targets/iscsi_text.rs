//! Login/text key=value parsing, SendTargets grouping, CHAP and negotiation.
#![no_main]
use kzrescue::source::iscsi::login::{self, ChapCredentials, OpOffer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(pairs) = login::parse_text(data) {
        let _ = login::parse_send_targets(&pairs);
        let creds = ChapCredentials::new("u", b"secret").unwrap();
        let _ = login::chap_answer(&pairs, &creds);
        if let Ok(p) = OpOffer::default().agree(&pairs) {
            assert!(p.first_burst <= p.max_burst);
        }
        // Encoding what was parsed parses back to the same pairs.
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(login::parse_text(&login::encode_text(&refs)).unwrap(), pairs);
    }
});
