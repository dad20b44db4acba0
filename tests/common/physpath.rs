//! Helpers for the phys_path repair tests: a Solaris-style GPT disk builder,
//! an independent label checksum check (written here from the spec, not
//! shared with the crate), hashes of everything outside the label nvlists,
//! and wrappers around zdb.

use super::gpt;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const LABEL: u64 = 256 * 1024;
pub const PHYS_OFF: u64 = 16 * 1024;
pub const PHYS_LEN: u64 = 114_688;

/// Where the pool sits on a disk made by [`gpt_disk`].
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    pub start: u64,
    pub len: u64,
}

/// Label offsets on a vdev of `size` bytes.
pub fn label_offsets(size: u64) -> [u64; 4] {
    let ps = size & !(LABEL - 1);
    [0, LABEL, ps - 2 * LABEL, ps - LABEL]
}

/// Absolute (disk) ranges of the four 112 KiB nvlist areas.
pub fn phys_ranges(p: Placement) -> Vec<(u64, u64)> {
    label_offsets(p.len)
        .iter()
        .map(|o| (p.start + o + PHYS_OFF, PHYS_LEN))
        .collect()
}

pub const USR: &str = "6A898CC3-1DD2-11B2-99A6-080020736631";
pub const RESERVED: &str = "6A945A3B-1DD2-11B2-99A6-080020736631";
pub const BIOS_BOOT: &str = "21686148-6449-6E6F-744E-656564454649";

/// Writes a Solaris-style GPT disk to `out` holding `vdev` in slice `slice`
/// (0: SPARC layout, 1: x86 layout with a BIOS_boot s0), sector size `ss`,
/// 9 entries, partitions from LBA 256, an 8 MiB reserved s8 at the end.
pub fn gpt_disk(vdev: &[u8], slice: u32, ss: u64, out: &Path) -> Placement {
    gpt_disk_typed(vdev, slice, ss, out, USR)
}

/// [`gpt_disk`] with the pool slice of partition type `ty`.
pub fn gpt_disk_typed(vdev: &[u8], slice: u32, ss: u64, out: &Path, ty: &str) -> Placement {
    assert!(slice <= 1);
    let mib = 1 << 20;
    let first = 256 * ss;
    let mut parts: Vec<(u32, &str, u64, u64, &str)> = Vec::new();
    let mut at = first;
    if slice == 1 {
        parts.push((0, BIOS_BOOT, at, mib, "boot"));
        at += mib;
    }
    let vlen = (vdev.len() as u64).div_ceil(ss) * ss;
    assert_eq!(
        vlen & !(LABEL - 1),
        (vdev.len() as u64) & !(LABEL - 1),
        "rounding the vdev to sectors would move its end labels"
    );
    let zfs_start = at;
    parts.push((slice, ty, at, vlen, "zfs"));
    at += vlen;
    let resv_len = 8 * mib;
    parts.push((8, RESERVED, at, resv_len, ""));
    at += resv_len;
    let entries_bytes = 16384u64;
    let tail = entries_bytes + ss;
    let total = (at + tail).div_ceil(ss) * ss;
    let mut disk = vec![0u8; total as usize];
    disk[zfs_start as usize..zfs_start as usize + vdev.len()].copy_from_slice(vdev);

    let entries: Vec<gpt::Entry> = parts
        .iter()
        .map(|(sl, ty, start, len, name)| {
            let mut unique = gpt::guid_bytes("01234567-89AB-CDEF-0123-456789ABCDEF");
            unique[15] = *sl as u8;
            gpt::Entry {
                slot: *sl as usize,
                type_guid: ty,
                unique,
                first: start / ss,
                last: (start + len) / ss - 1,
                name,
            }
        })
        .collect();
    let disk_guid = gpt::guid_bytes("7A3C9F21-55E0-4B1D-8C2A-0D1E2F3A4B5C");
    gpt::write_into(&mut disk, ss, disk_guid, &entries);
    std::fs::write(out, &disk).unwrap();
    Placement {
        start: zfs_start,
        len: vlen,
    }
}

/// Whether the embedded SHA-256 of label `l`'s vdev_phys verifies (both byte
/// orders; verifier = vdev-relative offset). Written from the spec.
pub fn label_checksum_ok(vdev: &[u8], l: usize) -> bool {
    let off = label_offsets(vdev.len() as u64)[l] + PHYS_OFF;
    let mut b = vdev[off as usize..(off + PHYS_LEN) as usize].to_vec();
    let n = b.len();
    let magic: [u8; 8] = b[n - 40..n - 32].try_into().unwrap();
    let big = if u64::from_le_bytes(magic) == 0x0210da7ab10c7a11 {
        false
    } else if u64::from_be_bytes(magic) == 0x0210da7ab10c7a11 {
        true
    } else {
        return false;
    };
    let stored = b[n - 32..].to_vec();
    let enc = |v: u64| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    b[n - 32..n - 24].copy_from_slice(&enc(off));
    for w in 1..4 {
        b[n - 32 + 8 * w..n - 24 + 8 * w].copy_from_slice(&enc(0));
    }
    let d = Sha256::digest(&b);
    let mut want = Vec::new();
    for w in 0..4 {
        let v = u64::from_be_bytes(d[8 * w..8 * w + 8].try_into().unwrap());
        want.extend_from_slice(&enc(v));
    }
    want == stored
}

/// SHA-256 of every byte of `disk` outside `ranges`.
pub fn sha_outside(disk: &[u8], ranges: &[(u64, u64)]) -> Vec<u8> {
    let mut r = ranges.to_vec();
    r.sort();
    let mut h = Sha256::new();
    let mut pos = 0usize;
    for (o, l) in r {
        h.update(&disk[pos..o as usize]);
        pos = (o + l) as usize;
    }
    h.update(&disk[pos..]);
    h.finalize().to_vec()
}

pub fn sha(b: &[u8]) -> Vec<u8> {
    Sha256::digest(b).to_vec()
}

/// The vdev bytes of a disk made by [`gpt_disk`].
pub fn slice_of(disk: &[u8], p: Placement) -> Vec<u8> {
    disk[p.start as usize..(p.start + p.len) as usize].to_vec()
}

/// Where the OpenZFS test suite keeps its pool images.
pub const BLOCKFILES: &str = "/usr/share/zfs/zfs-tests/tests/functional/cli_root";

/// Decompresses a test-suite image (`zpool_upgrade/blockfiles/NAME.bz2`), or
/// `None` (with a SKIPPED line; a panic under CI) when it or bzip2 is missing.
pub fn testsuite_image(rel: &str, test: &str) -> Option<Vec<u8>> {
    let p = PathBuf::from(BLOCKFILES).join(rel);
    if !p.exists() {
        if super::in_ci() {
            panic!("{test}: {} missing (Debian package zfs-test)", p.display());
        }
        println!(
            "SKIPPED {test}: {} missing (install Debian package zfs-test)",
            p.display()
        );
        return None;
    }
    if !super::require_tool("bzip2", "bzip2", test) {
        return None;
    }
    let out = Command::new("bzip2").arg("-dc").arg(&p).output().unwrap();
    assert!(out.status.success());
    Some(out.stdout)
}

/// `zdb -l FILE` output.
pub fn zdb_l(file: &Path) -> String {
    let o = Command::new("zdb").arg("-l").arg(file).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Whether `zdb -e -p DIR -u POOL` (a userland import) succeeds.
pub fn zdb_imports(dir: &Path, pool: &str) -> bool {
    Command::new("zdb")
        .args(["-e", "-p"])
        .arg(dir)
        .args(["-u", pool])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The strong per-label check of testing-notes: for each label whose
/// checksum is claimed valid, a copy with the other three nvlist areas zeroed
/// must import. Returns the labels that import alone.
pub fn labels_that_import_alone(vdev: &[u8], pool: &str, scratch: &Path) -> Vec<usize> {
    let offs = label_offsets(vdev.len() as u64);
    let mut ok = Vec::new();
    for l in 0..4 {
        let dir = scratch.join(format!("alone{l}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut c = vdev.to_vec();
        for (m, o) in offs.iter().enumerate() {
            if m != l {
                let s = (o + PHYS_OFF) as usize;
                c[s..s + PHYS_LEN as usize].fill(0);
            }
        }
        std::fs::write(dir.join("vdev"), &c).unwrap();
        if zdb_imports(&dir, pool) {
            ok.push(l);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    ok
}

/// Whether `a` and `b` are equal outside `ranges` (same length required).
pub fn equal_outside(a: &[u8], b: &[u8], ranges: &[(u64, u64)]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut r = ranges.to_vec();
    r.sort();
    let mut pos = 0usize;
    for (o, l) in r {
        if a[pos..o as usize] != b[pos..o as usize] {
            return false;
        }
        pos = (o + l) as usize;
    }
    a[pos..] == b[pos..]
}

/// Where the pool slice of committed fixture `fixture` lies, from
/// `testimages/SLICES` (written by the fixture scripts).
pub fn fixture_placement(fixture: &str) -> Placement {
    let slices = std::fs::read_to_string(super::root().join("testimages/SLICES")).unwrap();
    let line = slices
        .lines()
        .find(|l| l.split_whitespace().next() == Some(fixture))
        .unwrap_or_else(|| panic!("{fixture} not in SLICES"));
    let f: Vec<&str> = line.split_whitespace().collect();
    Placement {
        start: f[2].parse().unwrap(),
        len: f[3].parse().unwrap(),
    }
}

/// The zone's phys_path plan for disks `names` (device ids 0, 1, … in
/// order; pool slice `s1` at `at`), read through `sources`.
pub fn zone_plan(
    names: &[String],
    at: &[Placement],
    sources: &[kzrescue::source::SharedSource],
) -> kzrescue::repair::plan::Plan {
    use kzrescue::repair::plan::{self, DevidChange, DiskInput, LeafFields, PlanOptions};
    let inputs: Vec<DiskInput> = sources
        .iter()
        .zip(at)
        .enumerate()
        .map(|(i, (src, p))| DiskInput {
            name: names[i].clone(),
            disk: src.clone(),
            vdev: std::sync::Arc::new(kzrescue::source::Window::new(
                src.clone(),
                p.start,
                p.len,
                "s1",
            )),
            vdev_start: p.start,
            fields: LeafFields {
                phys_path: format!("/zvnex/zvblk@{i}:b"),
                path: Some(format!("/dev/dsk/c1d{i}s1")),
                devid: DevidChange::Keep,
            },
        })
        .collect();
    plan::plan(&inputs, PlanOptions::default()).unwrap()
}

/// Whether `zdb -e` imports `pool` from these vdev images (pool slices),
/// written into `scratch` (emptied first), one file per vdev.
pub fn zdb_imports_vdevs(scratch: &Path, pool: &str, vdevs: &[&[u8]]) -> bool {
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch).unwrap();
    for (i, v) in vdevs.iter().enumerate() {
        std::fs::write(scratch.join(format!("vdev{i}")), v).unwrap();
    }
    zdb_imports(scratch, pool)
}
