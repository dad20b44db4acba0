//! Property tests of the nvlist codecs: arbitrary lists round-trip through
//! both encodings, and arbitrary or damaged bytes never panic.

use kzrescue::zfs::nvlist::{NvList, NvPair, NvValue, XdrStyle, decode_packed, native, xdr};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z_]{1,3}", "[a-z_:.]{1,24}", "[^\\x00]{1,9}",]
}

fn string() -> impl Strategy<Value = String> {
    "[^\\x00]{0,13}"
}

fn leaf() -> impl Strategy<Value = NvValue> + Clone {
    use NvValue::*;
    use prop::collection::vec as v;
    prop_oneof![
        Just(Boolean),
        any::<bool>().prop_map(BooleanValue),
        any::<u8>().prop_map(Byte),
        any::<i8>().prop_map(Int8),
        any::<u8>().prop_map(UInt8),
        any::<i16>().prop_map(Int16),
        any::<u16>().prop_map(UInt16),
        any::<i32>().prop_map(Int32),
        any::<u32>().prop_map(UInt32),
        any::<i64>().prop_map(Int64),
        any::<u64>().prop_map(UInt64),
        any::<i64>().prop_map(HrTime),
        any::<f64>()
            .prop_filter("NaN never equals itself", |d| !d.is_nan())
            .prop_map(Double),
        string().prop_map(String),
        v(any::<u8>(), 0..9).prop_map(ByteArray),
        v(any::<bool>(), 0..5).prop_map(BooleanArray),
        v(any::<i8>(), 0..5).prop_map(Int8Array),
        v(any::<u8>(), 0..5).prop_map(UInt8Array),
        v(any::<i16>(), 0..5).prop_map(Int16Array),
        v(any::<u16>(), 0..5).prop_map(UInt16Array),
        v(any::<i32>(), 0..5).prop_map(Int32Array),
        v(any::<u32>(), 0..5).prop_map(UInt32Array),
        v(any::<i64>(), 0..5).prop_map(Int64Array),
        v(any::<u64>(), 0..5).prop_map(UInt64Array),
        v(string(), 0..4).prop_map(StringArray),
    ]
}

/// A list with `version`, an nvflag and pairs made unique the way the flag
/// requires.
fn build(version: i32, nvflag: u32, raw: Vec<(String, NvValue)>) -> NvList {
    let mut pairs: Vec<NvPair> = Vec::new();
    for (name, value) in raw {
        let dup = pairs.iter().any(|p| {
            p.name == name
                && (nvflag & 1 != 0
                    || (nvflag & 2 != 0 && p.value.type_code() == value.type_code()))
        });
        if !dup {
            pairs.push(NvPair { name, value });
        }
    }
    NvList {
        version,
        nvflag,
        pairs,
    }
}

fn list_of(
    value: impl Strategy<Value = NvValue> + Clone,
    version: impl Strategy<Value = i32>,
) -> impl Strategy<Value = NvList> {
    (
        version,
        0u32..4,
        prop::collection::vec((name(), value), 0..7),
    )
        .prop_map(|(v, f, raw)| build(v, f, raw))
}

fn value() -> impl Strategy<Value = NvValue> + Clone {
    leaf().prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            list_of(inner.clone(), Just(0)).prop_map(NvValue::NvList),
            prop::collection::vec(list_of(inner, Just(0)), 0..3).prop_map(NvValue::NvListArray),
        ]
    })
}

fn top() -> impl Strategy<Value = NvList> {
    list_of(value(), prop_oneof![Just(0), any::<i32>()])
}

fn style() -> impl Strategy<Value = XdrStyle> {
    (any::<bool>(), any::<bool>()).prop_map(|(s, q)| XdrStyle {
        sign_extend: s,
        empty_array_quirk: q,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn xdr_round_trip(list in top(), endian in 0u8..2, st in style()) {
        let header = [1, endian, 0, 0];
        let bytes = xdr::encode_with(header, &list, st).unwrap();
        let p = decode_packed(&bytes).unwrap();
        prop_assert_eq!(&p.list, &list);
        prop_assert_eq!(p.header, header);
        // The detected style re-encodes to the same bytes.
        prop_assert_eq!(p.encode().unwrap(), bytes.clone());
        if !st.empty_array_quirk {
            prop_assert_eq!(p.len, bytes.len());
        }
        // The default style always gives exact encoded sizes.
        let plain = xdr::encode(header, &list).unwrap();
        prop_assert_eq!(xdr::decode(&plain).unwrap().len, plain.len());
    }

    #[test]
    fn native_round_trip(list in top(), endian in 0u8..2) {
        let header = [0, endian, 0, 0];
        let bytes = native::encode(header, &list).unwrap();
        let p = decode_packed(&bytes).unwrap();
        prop_assert_eq!(&p.list, &list);
        prop_assert_eq!(p.len, bytes.len());
        prop_assert_eq!(p.encode().unwrap(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(enc in 0u8..3, mut b in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Some(first) = b.first_mut() && enc < 2 {
            *first = enc;
        }
        if let Ok(p) = decode_packed(&b) {
            let again = p.encode().unwrap();
            prop_assert_eq!(decode_packed(&again).unwrap().list, p.list);
        }
    }

    #[test]
    fn damaged_lists_never_panic(
        list in top(),
        xdr_enc in any::<bool>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let mut bytes = if xdr_enc {
            xdr::encode([1, 0, 0, 0], &list).unwrap()
        } else {
            native::encode([0, 1, 0, 0], &list).unwrap()
        };
        for (i, x) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= x;
        }
        if do_cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        match decode_packed(&bytes) {
            Ok(p) => {
                // Whatever decodes re-encodes to something that decodes equal.
                let again = p.encode().unwrap();
                prop_assert_eq!(decode_packed(&again).unwrap().list, p.list);
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.starts_with("nvlist"), "{}", msg);
                prop_assert!(!msg.contains('\n'));
            }
        }
    }
}
