//! Property tests of the host-data parsers: the container and the payload
//! never panic on arbitrary or mutated bytes, round trips are exact, and no
//! mutation of a sealed copy opens.

use kzrescue::hostdata::container::{self, Slot};
use kzrescue::hostdata::store::{self, CopyState};
use kzrescue::hostdata::{HostData, HostKey, SuspendInfo, payload_decode, payload_encode};
use proptest::prelude::*;

fn key(b: u8) -> HostKey {
    let mut k = [b; 16];
    HostKey::from_bytes(&mut k)
}

fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 ._?:/-]{0,40}").unwrap()
}

fn host_data() -> impl Strategy<Value = HostData> {
    (
        (text(), any::<u32>(), text(), text(), text()),
        (
            any::<bool>(),
            any::<i64>(),
            any::<i64>(),
            any::<u64>(),
            text(),
            any::<i64>(),
        ),
        proptest::collection::vec(
            (
                proptest::string::string_regex("[a-z?-]{1,20}").unwrap(),
                text(),
            ),
            0..5,
        ),
        proptest::option::of(any::<[u8; 16]>()),
    )
        .prop_map(
            |((zone, hostid, host, state, be), (susp, t, tod, generation, img, st), obp, uuid)| {
                let mut obp = obp;
                obp.sort();
                obp.dedup_by(|a, b| a.0 == b.0);
                HostData {
                    zonename: zone,
                    owner_hostid: hostid,
                    owner_hostname: host,
                    state,
                    be_name: be,
                    be_uuid: uuid
                        .map(|u| {
                            let h = hex::encode(u);
                            format!(
                                "{}-{}-{}-{}-{}",
                                &h[..8],
                                &h[8..12],
                                &h[12..16],
                                &h[16..20],
                                &h[20..]
                            )
                        })
                        .unwrap_or_default(),
                    last_update: t,
                    tod_offset_ns: tod,
                    suspend: SuspendInfo {
                        suspended: susp,
                        image: img,
                        time: st,
                        extra: Vec::new(),
                    },
                    obp_vars: obp,
                    generation,
                    extra: Vec::new(),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn container_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = container::parse(&bytes);
        let _ = store::judge(&bytes, Some(&key(1)));
        let _ = store::judge(&bytes, None);
    }

    /// Bytes that pass the magic and CRC checks (a forger's copy) still never
    /// panic and never open under a key they were not sealed with.
    #[test]
    fn forged_headers_never_open(mut bytes in proptest::collection::vec(any::<u8>(), 64..4096),
                                 len in 0u32..5000) {
        bytes[..8].copy_from_slice(&container::MAGIC);
        bytes[8..12].copy_from_slice(&[0, 1, 0, 64]);
        bytes[12..16].fill(0);
        bytes[44..48].copy_from_slice(&len.to_be_bytes());
        bytes[52..60].fill(0);
        container::fix_crcs(&mut bytes);
        let k = key(2);
        let st = store::judge(&bytes, Some(&k));
        prop_assert!(!matches!(st, CopyState::Valid(..)), "random bytes opened");
        // With the right key id but random ciphertext: tampered, not valid.
        bytes[24..32].copy_from_slice(&k.id().0);
        container::fix_crcs(&mut bytes);
        let st = store::judge(&bytes, Some(&k));
        prop_assert!(!matches!(st, CopyState::Valid(..)), "{}", st.describe());
    }

    #[test]
    fn seal_open_round_trip(plain in proptest::collection::vec(any::<u8>(), 0..3000),
                            generation in any::<u64>(), nonce in any::<[u8; 12]>(), kb in any::<u8>()) {
        let k = key(kb);
        let copy = container::seal(&k, generation, nonce, &plain).unwrap();
        prop_assert_eq!(copy.len(), 64 + plain.len() + 16);
        match container::parse(&copy) {
            Slot::Sealed(s) => {
                prop_assert_eq!(s.header.generation, generation);
                prop_assert_eq!(s.to_bytes(), copy.clone());
                let opened = s.open(&k).unwrap();
                prop_assert_eq!(opened.as_slice(), plain.as_slice());
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    /// Any change of 1–8 bytes of a sealed copy is never opened as valid.
    #[test]
    fn mutations_never_open(plain in proptest::collection::vec(any::<u8>(), 0..600),
                            edits in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..8),
                            fix in any::<bool>()) {
        let k = key(3);
        let mut copy = container::seal(&k, 9, [4; 12], &plain).unwrap();
        for (i, x) in &edits {
            let at = i.index(copy.len());
            copy[at] ^= x;
        }
        if fix {
            container::fix_crcs(&mut copy);
        }
        let st = store::judge(&copy, Some(&k));
        prop_assert!(!matches!(st, CopyState::Valid(..)), "{}", st.describe());
    }

    #[test]
    fn payload_round_trip(d in host_data()) {
        let bytes = payload_encode(&d).unwrap();
        prop_assert_eq!(payload_decode(&bytes).unwrap(), d);
    }

    #[test]
    fn payload_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = payload_decode(&bytes);
    }

    #[test]
    fn mutated_payloads_never_panic(d in host_data(),
                                    edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
                                    cut in any::<prop::sample::Index>()) {
        let mut bytes = payload_encode(&d).unwrap();
        for (i, v) in &edits {
            let at = i.index(bytes.len());
            bytes[at] = *v;
        }
        if let Ok(d2) = payload_decode(&bytes) {
            let again = payload_encode(&d2).unwrap();
            prop_assert_eq!(payload_decode(&again).unwrap(), d2);
        }
        let n = cut.index(bytes.len());
        let _ = payload_decode(&bytes[..n]);
    }
}
