//! The committed nvlist fuzz seeds are real packed lists (label nvlists of
//! the OpenZFS test-suite pools, and libnvpair's own packing of an all-types
//! list; see fuzz/seeds/make_nvlist_seeds.sh). Without any ZFS tool
//! installed they still check: decode → encode gives back the bytes, and the
//! XDR and native packings of the same list decode to the same list.

mod common;

use std::collections::BTreeMap;

use kzrescue::zfs::nvlist::{NvValue, decode_packed, native, xdr};

fn seeds(dir: &str) -> BTreeMap<String, Vec<u8>> {
    let d = common::root().join("fuzz/seeds").join(dir);
    std::fs::read_dir(&d)
        .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
        .map(|e| {
            let p = e.unwrap().path();
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, std::fs::read(&p).unwrap())
        })
        .collect()
}

#[test]
fn seeds_round_trip_and_agree() {
    let x = seeds("nvlist_xdr");
    let n = seeds("nvlist_native");
    assert_eq!(x.len(), 5);
    assert_eq!(x.keys().collect::<Vec<_>>(), n.keys().collect::<Vec<_>>());
    for (name, xb) in &x {
        let px = decode_packed(xb).unwrap_or_else(|e| panic!("{name}.xdr: {e}"));
        let again = px.encode().unwrap();
        assert_eq!(&again[..], &xb[..again.len()], "{name}.xdr re-encodes");
        assert!(xb[again.len()..].iter().all(|&b| b == 0), "{name}.xdr tail");
        let nb = &n[name];
        let pn = decode_packed(nb).unwrap_or_else(|e| panic!("{name}.native: {e}"));
        assert_eq!(pn.list, px.list, "{name}: XDR and native lists differ");
        assert_eq!(native::encode(pn.header, &pn.list).unwrap(), *nb);
    }
    // The v15 SPARC label begins as formats/nvlist.md describes.
    let v15 = decode_packed(&x["zfs-pool-v15.label0"]).unwrap();
    assert_eq!(v15.header, [1, 0, 0, 0]);
    assert_eq!(v15.list.get_u64("version"), Some(15));
    assert_eq!(v15.list.get_str("name"), Some("v15-pool"));
    assert!(v15.list.get_list("vdev_tree").is_some());
    // The ZoL pool's label carries features_for_read with BOOLEAN pairs or empty.
    let crypt = decode_packed(&x["cryptv0.label0"]).unwrap();
    assert_eq!(crypt.header[1], 1, "x86 writer");
    assert!(matches!(
        crypt.list.get("features_for_read"),
        Some(NvValue::NvList(_))
    ));
    // Default-style encoding of a label list is libnvpair's bytes too.
    let again = xdr::encode(v15.header, &v15.list).unwrap();
    assert_eq!(again.len(), v15.len);
}
