//! Fuzzes the round trip between encodings: any list that decodes (either
//! encoding) is re-encoded in every XDR style and both native byte orders,
//! and each result must decode to the same list (compared through its
//! canonical XDR bytes, so NaN doubles compare by their bits).
#![no_main]

use kzrescue::zfs::nvlist::{XdrStyle, decode_packed, native, xdr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = decode_packed(data) else { return };
    let canon = xdr::encode([1, 0, 0, 0], &p.list).expect("a decoded list encodes");
    let mut outs = Vec::new();
    for sign_extend in [false, true] {
        for empty_array_quirk in [false, true] {
            let st = XdrStyle { sign_extend, empty_array_quirk };
            outs.push(xdr::encode_with([1, 1, 0, 0], &p.list, st).unwrap());
        }
    }
    outs.push(native::encode([0, 0, 0, 0], &p.list).unwrap());
    outs.push(native::encode([0, 1, 0, 0], &p.list).unwrap());
    for bytes in outs {
        let back = decode_packed(&bytes).expect("our own encoding decodes");
        assert_eq!(back.encode().unwrap(), bytes, "re-encode differs");
        assert_eq!(xdr::encode([1, 0, 0, 0], &back.list).unwrap(), canon, "list changed");
    }
});
