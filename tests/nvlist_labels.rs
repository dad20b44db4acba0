//! Round trip of every vdev label nvlist in the OpenZFS test-suite pool
//! images (real Solaris SPARC/x86 and ZoL pools): decode → encode must give
//! back the original bytes, and ZFS's zero fill after them; and when
//! libnvpair is installed, libnvpair's own reading of each label must equal
//! ours, pair by pair.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use kzrescue::zfs::nvlist::{decode_packed, xdr};

const LABEL: u64 = 256 * 1024;
/// The nvlist area of a label: 112 KiB of vdev_phys minus its 40-byte eck.
const NVLIST_OFF: u64 = 16 * 1024;
const NVLIST_LEN: usize = 112 * 1024 - 40;

fn blockfile_dirs() -> Vec<PathBuf> {
    let base = PathBuf::from("/usr/share/zfs/zfs-tests/tests/functional/cli_root");
    vec![
        base.join("zpool_upgrade/blockfiles"),
        base.join("zpool_import/blockfiles"),
    ]
}

/// Decompresses `path` through `bzip2 -dc`, keeping the first 512 KiB and
/// the last 1 MiB; returns (size, head, tail, offset of tail).
fn head_and_tail(path: &PathBuf) -> (u64, Vec<u8>, Vec<u8>, u64) {
    let mut child = Command::new("bzip2")
        .arg("-dc")
        .arg(path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run bzip2");
    let mut out = child.stdout.take().unwrap();
    let mut head = Vec::new();
    let mut tail: Vec<u8> = Vec::new();
    let mut total = 0u64;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = out.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        let data = &chunk[..n];
        if head.len() < 2 * LABEL as usize {
            let take = (2 * LABEL as usize - head.len()).min(n);
            head.extend_from_slice(&data[..take]);
        }
        tail.extend_from_slice(data);
        if tail.len() > 4 << 20 {
            let cut = tail.len() - (1 << 20);
            tail.drain(..cut);
        }
        total += n as u64;
    }
    assert!(
        child.wait().unwrap().success(),
        "bzip2 -dc {}",
        path.display()
    );
    if tail.len() > 1 << 20 {
        let cut = tail.len() - (1 << 20);
        tail.drain(..cut);
    }
    let tail_off = total - tail.len() as u64;
    (total, head, tail, tail_off)
}

#[test]
fn label_nvlists_round_trip_exactly() {
    if !common::require_tool("bzip2", "bzip2", "label_nvlists_round_trip_exactly") {
        return;
    }
    let mut images: Vec<PathBuf> = blockfile_dirs()
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "bz2"))
        .collect();
    images.sort();
    if images.is_empty() {
        if common::in_ci() {
            panic!("zfs-test pool images missing and CI=true");
        }
        println!("SKIPPED label_nvlists_round_trip_exactly: install Debian package zfs-test");
        return;
    }
    let (mut checked, mut blank, mut sparc, mut x86) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    let tmp = tempfile::tempdir().unwrap();
    let mut packed_files = Vec::new();
    let mut ours = Vec::new();
    for img in &images {
        let (size, head, tail, tail_off) = head_and_tail(img);
        let psize = size / LABEL * LABEL;
        let offs = [0, LABEL, psize - 2 * LABEL, psize - LABEL];
        for (l, off) in offs.iter().enumerate() {
            let start = off + NVLIST_OFF;
            let region: &[u8] = if start + (NVLIST_LEN as u64) <= head.len() as u64 {
                &head[start as usize..start as usize + NVLIST_LEN]
            } else {
                let s = (start - tail_off) as usize;
                &tail[s..s + NVLIST_LEN]
            };
            if region.iter().all(|&b| b == 0) {
                blank += 1;
                continue;
            }
            let name = format!("{} L{l}", img.file_name().unwrap().to_string_lossy());
            let packed = match decode_packed(region) {
                Ok(p) => p,
                Err(e) => {
                    failures.push(format!("{name}: {e}"));
                    continue;
                }
            };
            let again = xdr::encode(packed.header, &packed.list).expect("encode");
            if again.len() != packed.len || again[..] != region[..again.len()] {
                failures.push(format!("{name}: re-encoded bytes differ"));
            } else if region[again.len()..].iter().any(|&b| b != 0) {
                failures.push(format!("{name}: non-zero bytes after the list"));
            }
            let f = tmp.path().join(format!("{checked}.nvlist"));
            std::fs::write(&f, &region[..packed.len]).unwrap();
            packed_files.push(f);
            ours.push((name, common::nvlist::to_json(&packed.list)));
            match packed.header[1] {
                0 => sparc += 1,
                _ => x86 += 1,
            }
            checked += 1;
        }
    }
    println!(
        "label nvlists: {checked} round-tripped exactly ({sparc} big-endian writers, {x86} little-endian), {blank} blank, {} images",
        images.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(checked > 0);

    if !common::nvlist::have_libnvpair("label_nvlists_round_trip_exactly (libnvpair part)") {
        return;
    }
    let theirs = common::nvlist::libnvpair_dump_many(&packed_files);
    assert_eq!(theirs.len(), ours.len());
    let mut agree = 0;
    for ((name, o), t) in ours.iter().zip(&theirs) {
        assert_eq!(o, t, "{name}: libnvpair reads the label differently");
        agree += 1;
    }
    println!("label nvlists: libnvpair agrees with our decode on {agree} of {checked}");

    // libnvpair's native packing of each label decodes to the same list, and
    // our native encoder reproduces libnvpair's bytes.
    let jobs: Vec<_> = packed_files
        .iter()
        .map(|f| (f.clone(), f.with_extension("native")))
        .collect();
    common::nvlist::libnvpair_repack_native(&jobs);
    let mut native_same = 0;
    for ((xf, nf), (name, _)) in jobs.iter().zip(&ours) {
        let x = decode_packed(&std::fs::read(xf).unwrap()).unwrap();
        let nb = std::fs::read(nf).unwrap();
        let n = decode_packed(&nb).unwrap_or_else(|e| panic!("{name} native: {e}"));
        assert_eq!(n.list, x.list, "{name}: native and XDR lists differ");
        assert_eq!(
            kzrescue::zfs::nvlist::native::encode(n.header, &n.list).unwrap(),
            nb,
            "{name}: native re-encode differs from libnvpair's"
        );
        native_same += 1;
    }
    println!("label nvlists: {native_same} libnvpair native repacks decode and re-encode exactly");
}
