//! Recovery below the labels against the real thing: copies of the real KZ
//! disks in testimages/ (zfs-fuse pools on Solaris GPT disks, 512 and 4Kn, a
//! mirror; an SMI/VTOC disk built here around the SPARC disk's pool slice,
//! and an x86 VTOC disk (MBR by sfdisk) around the x86 disk's) damaged the way the field damages them. For every case:
//! `kzrescue scan` finds the vdev at its true start and size; after
//! `partitions restore` / `label repair` (dry run first, then `--write`),
//! `sgdisk -v` reports no problems (GPT), `zdb -e` imports the pool from the
//! restored slice from each label alone, `kzrescue manifest` lists the same
//! files with the same SHA-256 as on the undamaged disk (and as the zfs-fuse
//! mount recorded in `<image>.files.json`), and `kzrescue undo` puts the
//! damaged bytes back exactly.

mod common;

use common::physpath::{
    LABEL, PHYS_LEN, PHYS_OFF, Placement, fixture_placement, label_offsets, zdb_imports_vdevs,
};
use common::{kzrescue, require_tool, unpack_fixture};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const DATASET: &str = "rpool/ROOT/solaris";

fn run(args: &[&str]) -> (i32, String, String) {
    let r = kzrescue(args);
    eprintln!("$ kzrescue {}\n{}{}", args.join(" "), r.1, r.2);
    r
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// path → sha256 (files) from a kzrescue manifest.
fn manifest(disks: &[&Path]) -> BTreeMap<String, String> {
    let mut args: Vec<&str> = vec!["manifest", "--json-int"];
    args.extend(disks.iter().map(|d| s(d)));
    args.push(DATASET);
    let (code, out, err) = kzrescue(&args);
    assert_eq!(code, 0, "manifest: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["path"].as_str()?.trim_start_matches('/').to_string(),
                e["sha256"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// path → sha256 as the zfs-fuse mount recorded them.
fn fuse_golden(fixture: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(
        common::root().join(format!("testimages/{fixture}.img.files.json")),
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["path"].as_str()?.to_string(),
                e["sha256"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// The scan's vdevs as (start, psize, labels).
fn scan(disk: &Path, extra: &[&str]) -> Vec<(u64, u64, Vec<u64>)> {
    let mut args = vec!["scan", s(disk), "--json", "--json-int"];
    args.extend_from_slice(extra);
    let (code, out, err) = kzrescue(&args);
    assert!(code == 0 || code == 1, "scan: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["vdevs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["start"].as_u64().unwrap(),
                x["psize"].as_u64().unwrap_or(0),
                x["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_u64().unwrap())
                    .collect(),
            )
        })
        .collect()
}

/// Labels (0–3) from which `zdb -e` imports the pool when the other three
/// nvlists of *this* child are zeroed (`others`: the other children of a
/// mirror, given as they are).
fn import_alone(vdev: &[u8], others: &[Vec<u8>], scratch: &Path) -> Vec<usize> {
    let offs = label_offsets(vdev.len() as u64);
    (0..4)
        .filter(|&l| {
            let mut c = vdev.to_vec();
            for (m, o) in offs.iter().enumerate() {
                if m != l {
                    let st = (o + PHYS_OFF) as usize;
                    c[st..st + PHYS_LEN as usize].fill(0);
                }
            }
            let mut all: Vec<&[u8]> = vec![&c];
            all.extend(others.iter().map(|o| &o[..]));
            zdb_imports_vdevs(&scratch.join(format!("alone{l}")), "rpool", &all)
        })
        .collect()
}

fn slice(disk: &[u8], p: Placement) -> Vec<u8> {
    disk[p.start as usize..(p.start + p.len) as usize].to_vec()
}

/// The pool slice kzrescue reads from a disk now (start, len).
fn table_slice(disk: &Path) -> Placement {
    let (code, out, err) = kzrescue(&["partitions", s(disk), "--json", "--json-int"]);
    assert!(code == 0 || code == 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let n = v["pool_slice"].as_u64().expect("a pool slice");
    let p = v["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["slice"].as_u64() == Some(n))
        .unwrap();
    Placement {
        start: p["start"].as_u64().unwrap(),
        len: p["len"].as_u64().unwrap(),
    }
}

fn sgdisk_ok(disk: &Path, ss: u64) {
    let out = if ss == 4096 {
        // sgdisk reads 4Kn layouts only from a device with 4096-byte sectors:
        // check the copy's table through the crate-independent reader instead
        // when no loop device is available.
        let Some(o) = sgdisk_4k(disk) else { return };
        o
    } else {
        let o = Command::new("sgdisk").arg("-v").arg(disk).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(out.contains("No problems found"), "sgdisk -v: {out}");
}

/// `sgdisk -v` through a read-only loop device with 4096-byte sectors.
fn sgdisk_4k(disk: &Path) -> Option<String> {
    let lo = match common::loopdev::Loop::attach(disk, Some(4096), true) {
        Ok(l) => l,
        Err(why) => {
            println!("NOTE: no 4096-byte loop device ({why}); sgdisk -v of the 4Kn copy skipped");
            return None;
        }
    };
    let v = Command::new("sgdisk")
        .arg("-v")
        .arg(&lo.dev)
        .output()
        .unwrap();
    drop(lo);
    Some(String::from_utf8_lossy(&v.stdout).into_owned())
}

struct Case<'a> {
    name: &'a str,
    fixtures: &'a [&'a str],
    ss: u64,
    /// Damages the disk images (index = fixture).
    damage: &'a dyn Fn(&mut [Vec<u8>]),
    /// The repair commands, each given the disk paths and a journal path.
    fixes: Vec<&'a FixCommand>,
    gpt: bool,
}

/// One repair command: given the disk paths and a journal path, its argv.
type FixCommand = dyn Fn(&[PathBuf], &Path) -> Vec<String>;

fn run_case(c: &Case, tmp: &Path, base: &mut BTreeMap<String, BTreeMap<String, String>>) {
    println!("=== {}", c.name);
    let dir = tmp.join(c.name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut disks: Vec<PathBuf> = Vec::new();
    let mut bytes: Vec<Vec<u8>> = Vec::new();
    for f in c.fixtures {
        let p = unpack_fixture(&format!("{f}.img"), &dir);
        bytes.push(std::fs::read(&p).unwrap());
        disks.push(p);
    }
    let key = c.fixtures.join("+");
    if !base.contains_key(&key) {
        let refs: Vec<&Path> = disks.iter().map(|d| d.as_path()).collect();
        let m = manifest(&refs);
        let golden = fuse_golden(c.fixtures[0]);
        for (p, h) in &golden {
            assert_eq!(
                m.get(p),
                Some(h),
                "undamaged {key}: {p} vs the zfs-fuse mount"
            );
        }
        base.insert(key.clone(), m);
    }
    let placement: Vec<Placement> = if c.fixtures[0] == "smi" {
        vec![smi_placement()]
    } else {
        c.fixtures
            .iter()
            .map(|f| fixture_placement(&format!("{f}.img")))
            .collect()
    };
    (c.damage)(&mut bytes);
    for (d, b) in disks.iter().zip(&bytes) {
        std::fs::write(d, b).unwrap();
    }
    let damaged = bytes.clone();
    // The scan finds each vdev at its true start and size.
    for (d, p) in disks.iter().zip(&placement) {
        let extra: Vec<&str> = if c.ss == 4096 {
            vec!["--sector-size", "4096"]
        } else {
            vec![]
        };
        let found = scan(d, &extra);
        let v = found
            .iter()
            .find(|v| v.0 == p.start)
            .unwrap_or_else(|| panic!("{}: no vdev at {:#x}: {found:?}", c.name, p.start));
        assert_eq!(v.1, p.len & !(LABEL - 1), "{}: size", c.name);
        println!(
            "{}: scan found the vdev at {:#x}, {} bytes, labels {:?}",
            c.name, v.0, v.1, v.2
        );
    }
    // Fix: dry run first (nothing written), then --write.
    let mut journals = Vec::new();
    for (i, fix) in c.fixes.iter().enumerate() {
        let j = dir.join(format!("j{i}.kzj"));
        let args = fix(&disks, &j);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let before: Vec<Vec<u8>> = disks.iter().map(|d| std::fs::read(d).unwrap()).collect();
        let (code, out, err) = run(&a[..a.len() - 3]);
        assert_eq!(code, 0, "{}: dry run {out}{err}", c.name);
        assert!(err.contains("dry run: nothing written"), "{err}");
        for (d, b) in disks.iter().zip(&before) {
            assert!(std::fs::read(d).unwrap() == *b, "dry run wrote");
        }
        let (code, out, err) = run(&a);
        assert_eq!(code, 0, "{}: {out}{err}", c.name);
        journals.push(j);
    }
    // The restored table names the slice where the pool is.
    let now: Vec<Vec<u8>> = disks.iter().map(|d| std::fs::read(d).unwrap()).collect();
    for (d, p) in disks.iter().zip(&placement) {
        let t = table_slice(d);
        assert_eq!(
            (t.start, t.len & !(LABEL - 1)),
            (p.start, p.len),
            "{}",
            c.name
        );
        if c.gpt {
            sgdisk_ok(d, c.ss);
        }
    }
    // zdb imports from each label alone, on every child.
    let slices: Vec<Vec<u8>> = now
        .iter()
        .zip(&placement)
        .map(|(b, p)| slice(b, *p))
        .collect();
    // Each mirror child on its own (zdb imports a mirror missing a child).
    for (i, v) in slices.iter().enumerate() {
        let ok = import_alone(v, &[], &dir.join(format!("zdb{i}")));
        assert_eq!(
            ok,
            vec![0, 1, 2, 3],
            "{}: child {i} imports from labels {ok:?}",
            c.name
        );
    }
    println!(
        "{}: zdb -e imports from each label alone (labels 0 1 2 3)",
        c.name
    );
    // Every file's SHA-256 as on the undamaged disk.
    let refs: Vec<&Path> = disks.iter().map(|d| d.as_path()).collect();
    let m = manifest(&refs);
    assert_eq!(&m, &base[&key], "{}: files differ", c.name);
    println!(
        "{}: {} files, every SHA-256 equal to the undamaged disk's",
        c.name,
        m.len()
    );
    // Undo, newest journal first: the damaged bytes come back exactly.
    for j in journals.iter().rev() {
        let (code, out, err) = run(&["undo", s(j), "--write"]);
        assert_eq!(code, 0, "{out}{err}");
    }
    for (d, b) in disks.iter().zip(&damaged) {
        assert!(
            std::fs::read(d).unwrap() == *b,
            "{}: undo not exact",
            c.name
        );
    }
    println!("{}: undo restored the damaged bytes exactly", c.name);
}

fn zero(b: &mut [u8], at: u64, len: u64) {
    b[at as usize..(at + len) as usize].fill(0);
}

fn zero_gpt_primary(b: &mut [u8], ss: u64) {
    zero(b, 0, 2 * ss + 16384);
}

fn zero_gpt_backup(b: &mut [u8], ss: u64) {
    let n = b.len() as u64;
    zero(b, n - ss - 16384, ss + 16384);
}

/// Foreign partition tables over the first MiB: a DOS MBR with one Linux
/// partition, then another tool's GPT (one Linux partition), then a fill
/// pattern up to 1 MiB.
fn foreign_first_mib(b: &mut [u8]) {
    let ss = 512u64;
    let sectors = b.len() as u64 / ss;
    let mut g = vec![0u8; b.len()];
    let e = [common::gpt::Entry {
        slot: 0,
        type_guid: "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
        unique: common::gpt::guid_bytes("11111111-2222-3333-4444-555555555555"),
        first: 2048,
        last: sectors - 40,
        name: "linux",
    }];
    for (off, bytes) in common::gpt::regions(
        sectors,
        ss,
        common::gpt::guid_bytes("99999999-8888-7777-6666-555555555555"),
        &e,
    ) {
        if off < 1 << 20 {
            g[off as usize..off as usize + bytes.len()].copy_from_slice(&bytes);
        }
    }
    b[..1 << 20].copy_from_slice(&g[..1 << 20]);
    for x in b[34 * 512..1 << 20].iter_mut() {
        *x = 0xa5;
    }
}

fn restore(from: &'static str, ss: u64) -> impl Fn(&[PathBuf], &Path) -> Vec<String> {
    move |d, j| {
        let mut v: Vec<String> = vec![
            "partitions".into(),
            "restore".into(),
            d[0].display().to_string(),
            "--from".into(),
            from.into(),
        ];
        if ss == 4096 {
            v.extend(["--sector-size".into(), "4096".into()]);
        }
        v.extend([
            "--write".into(),
            "--journal".into(),
            j.display().to_string(),
        ]);
        v
    }
}

fn label_repair(extra: &'static [&'static str]) -> impl Fn(&[PathBuf], &Path) -> Vec<String> {
    move |d, j| {
        let mut v: Vec<String> = vec!["label".into(), "repair".into()];
        v.extend(d.iter().map(|p| p.display().to_string()));
        v.extend(extra.iter().map(|x| x.to_string()));
        v.extend([
            "--liveness-interval".into(),
            "0".into(),
            // The last three arguments are dropped for the dry run.
            "--write".into(),
            "--journal".into(),
            j.display().to_string(),
        ]);
        v
    }
}

// --- the SMI/VTOC disk: the SPARC disk's pool slice at cylinder 1 of a
// Sun-labelled disk of 16 heads × 128 sectors (1 MiB cylinders), 74 data
// cylinders + 2 alternates, with the five backup labels Solaris writes on
// the last track of the last cylinder. Written here from sys/dklabel.h.

const NHEAD: u64 = 16;
const NSECT: u64 = 128;
const NCYL: u64 = 74;
const ACYL: u64 = 2;

fn smi_placement() -> Placement {
    Placement {
        start: NHEAD * NSECT * 512,
        len: 72 << 20,
    }
}

fn sun_label() -> [u8; 512] {
    let mut b = [0u8; 512];
    let ascii = b"kzrescue test disk cyl 74 alt 2 hd 16 sec 128";
    b[..ascii.len()].copy_from_slice(ascii);
    b[128..132].copy_from_slice(&1u32.to_be_bytes()); // v_version
    b[140..142].copy_from_slice(&8u16.to_be_bytes()); // v_nparts
    let spc = NHEAD * NSECT;
    // (slice, tag, flag, first cylinder, blocks)
    let parts = [
        (0usize, 2u16, 0u16, 1u32, (72 * spc) as u32),
        (2, 5, 1, 0, (NCYL * spc) as u32),
    ];
    for (sl, tag, flag, cyl, blocks) in parts {
        b[142 + 4 * sl..144 + 4 * sl].copy_from_slice(&tag.to_be_bytes());
        b[144 + 4 * sl..146 + 4 * sl].copy_from_slice(&flag.to_be_bytes());
        b[444 + 8 * sl..448 + 8 * sl].copy_from_slice(&cyl.to_be_bytes());
        b[448 + 8 * sl..452 + 8 * sl].copy_from_slice(&blocks.to_be_bytes());
    }
    b[188..192].copy_from_slice(&0x600d_deeeu32.to_be_bytes()); // v_sanity
    b[420..422].copy_from_slice(&3600u16.to_be_bytes()); // rpm
    b[422..424].copy_from_slice(&((NCYL + ACYL) as u16).to_be_bytes()); // pcyl
    b[430..432].copy_from_slice(&1u16.to_be_bytes()); // intrlv
    b[432..434].copy_from_slice(&(NCYL as u16).to_be_bytes());
    b[434..436].copy_from_slice(&(ACYL as u16).to_be_bytes());
    b[436..438].copy_from_slice(&(NHEAD as u16).to_be_bytes());
    b[438..440].copy_from_slice(&(NSECT as u16).to_be_bytes());
    b[508..510].copy_from_slice(&0xdabeu16.to_be_bytes());
    let mut x = 0u16;
    for w in b[..510].chunks(2) {
        x ^= u16::from_be_bytes([w[0], w[1]]);
    }
    b[510..512].copy_from_slice(&x.to_be_bytes());
    b
}

/// Makes `smi.img` in `dir` from the SPARC GPT disk's pool slice.
fn make_smi(dir: &Path) -> PathBuf {
    let src = unpack_fixture("gptdisk-sparc-512.img", dir);
    let gptdisk = std::fs::read(&src).unwrap();
    let vdev = slice(&gptdisk, fixture_placement("gptdisk-sparc-512.img"));
    let spc = NHEAD * NSECT;
    let mut d = vec![0u8; ((NCYL + ACYL) * spc * 512) as usize];
    let p = smi_placement();
    d[p.start as usize..p.start as usize + vdev.len()].copy_from_slice(&vdev);
    let l = sun_label();
    d[..512].copy_from_slice(&l);
    let last_track = ((NCYL + ACYL - 1) * NHEAD + NHEAD - 1) * NSECT;
    for k in [1u64, 3, 5, 7, 9] {
        let at = ((last_track + k) * 512) as usize;
        d[at..at + 512].copy_from_slice(&l);
    }
    let out = dir.join("smi.img");
    std::fs::write(&out, d).unwrap();
    let _ = std::fs::remove_file(src);
    out
}

#[test]
fn damage_cases_are_recovered_and_undone() {
    let t = "recovery_damage";
    if !require_tool("zdb", "zfsutils-linux", t) || !require_tool("sgdisk", "gdisk", t) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut base = BTreeMap::new();
    let both = |ss: u64| {
        move |b: &mut [Vec<u8>]| {
            zero_gpt_primary(&mut b[0], ss);
            zero_gpt_backup(&mut b[0], ss);
        }
    };
    let zero_labels = |labels: &'static [usize], fixture: &'static str, which: usize| {
        move |b: &mut [Vec<u8>]| {
            let p = fixture_placement(&format!("{fixture}.img"));
            for &l in labels {
                zero(&mut b[which], p.start + label_offsets(p.len)[l], LABEL);
            }
        }
    };
    let r512 = restore("scan", 512);
    let r4k = restore("scan", 4096);
    let rb = restore("backup", 512);
    let lr = label_repair(&[]);
    let lr_reseal = label_repair(&["--reseal-only"]);
    let d_both512 = both(512);
    let d_both4k = both(4096);
    let d_primary = |b: &mut [Vec<u8>]| zero_gpt_primary(&mut b[0], 512);
    let d_foreign = |b: &mut [Vec<u8>]| foreign_first_mib(&mut b[0]);
    let d_l01 = zero_labels(&[0, 1], "gptmirror-a", 0);
    let d_l23 = zero_labels(&[2, 3], "gptdisk-x86-4k", 0);
    let d_cksum = |b: &mut [Vec<u8>]| {
        // One byte of label 1's nvlist padding: the config still decodes.
        let p = fixture_placement("gptdisk-sparc-512.img");
        let at = p.start + label_offsets(p.len)[1] + PHYS_OFF + PHYS_LEN - 100;
        b[0][at as usize] ^= 0x5a;
    };
    let cases: Vec<Case> = vec![
        Case {
            name: "x86-512-both-gpt-copies-zeroed",
            fixtures: &["gptdisk-x86-512"],
            ss: 512,
            damage: &d_both512,
            fixes: vec![&r512],
            gpt: true,
        },
        Case {
            name: "x86-4kn-both-gpt-copies-zeroed",
            fixtures: &["gptdisk-x86-4k"],
            ss: 4096,
            damage: &d_both4k,
            fixes: vec![&r4k],
            gpt: true,
        },
        Case {
            name: "sparc-512-primary-gpt-zeroed",
            fixtures: &["gptdisk-sparc-512"],
            ss: 512,
            damage: &d_primary,
            fixes: vec![&rb],
            gpt: true,
        },
        Case {
            name: "x86-512-first-mib-overwritten-by-another-table",
            fixtures: &["gptdisk-x86-512"],
            ss: 512,
            damage: &d_foreign,
            fixes: vec![&rb],
            gpt: true,
        },
        Case {
            name: "mirror-labels-0-1-zeroed-on-one-child",
            fixtures: &["gptmirror-a", "gptmirror-b"],
            ss: 512,
            damage: &d_l01,
            fixes: vec![&lr],
            gpt: true,
        },
        Case {
            name: "x86-4kn-labels-2-3-zeroed",
            fixtures: &["gptdisk-x86-4k"],
            ss: 4096,
            damage: &d_l23,
            fixes: vec![&lr],
            gpt: true,
        },
        Case {
            name: "sparc-512-one-label-checksum-broken",
            fixtures: &["gptdisk-sparc-512"],
            ss: 512,
            damage: &d_cksum,
            fixes: vec![&lr_reseal],
            gpt: true,
        },
    ];
    for c in &cases {
        run_case(c, tmp.path(), &mut base);
    }
    vtoc_first_cylinder_zeroed(tmp.path());
}

/// The SMI disk's first cylinder zeroed: the VTOC comes back from the backup
/// labels; the pool imports from each label alone; files equal; undo exact.
fn vtoc_first_cylinder_zeroed(tmp: &Path) {
    println!("=== smi-vtoc-first-cylinder-zeroed");
    let dir = tmp.join("smi");
    std::fs::create_dir_all(&dir).unwrap();
    let disk = make_smi(&dir);
    let want = manifest(&[&disk]);
    let golden = fuse_golden("gptdisk-sparc-512");
    for (p, h) in &golden {
        assert_eq!(want.get(p), Some(h), "undamaged SMI disk: {p}");
    }
    let mut b = std::fs::read(&disk).unwrap();
    zero(&mut b, 0, NHEAD * NSECT * 512);
    std::fs::write(&disk, &b).unwrap();
    let damaged = b.clone();
    let p = smi_placement();
    let found = scan(&disk, &[]);
    assert!(
        found.iter().any(|v| v.0 == p.start && v.1 == p.len),
        "{found:?}"
    );
    println!(
        "smi: scan found the vdev at {:#x}, {} bytes",
        p.start, p.len
    );
    let j = dir.join("j.kzj");
    let (code, out, err) = run(&[
        "partitions",
        "restore",
        s(&disk),
        "--from",
        "backup",
        "--liveness-interval",
        "0",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(std::fs::read(&disk).unwrap() == damaged);
    let (code, out, err) = run(&[
        "partitions",
        "restore",
        s(&disk),
        "--from",
        "backup",
        "--liveness-interval",
        "0",
        "--write",
        "--journal",
        s(&j),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(&std::fs::read(&disk).unwrap()[..512], &sun_label()[..]);
    let t = table_slice(&disk);
    assert_eq!((t.start, t.len), (p.start, p.len));
    let now = std::fs::read(&disk).unwrap();
    let ok = import_alone(&slice(&now, p), &[], &dir.join("zdb"));
    assert_eq!(ok, vec![0, 1, 2, 3]);
    println!("smi: zdb -e imports from each label alone (labels 0 1 2 3)");
    assert_eq!(manifest(&[&disk]), want);
    println!("smi: {} files, every SHA-256 equal", want.len());
    let (code, out, err) = run(&["undo", s(&j), "--write"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(std::fs::read(&disk).unwrap() == damaged);
    println!("smi: undo restored the damaged bytes exactly");
}

/// `diagnose` on a zone whose boot disk lost both GPT copies names the
/// scan's finding and the exact restore command; with labels 0 and 1 gone it
/// names `label repair`.
#[test]
fn diagnose_names_the_recovery_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let disk = unpack_fixture("gptdisk-x86-512.img", dir);
    let pristine = std::fs::read(&disk).unwrap();
    let cfg = dir.join("kz1.cfg");
    std::fs::write(
        &cfg,
        "create -b\nset brand=solaris-kz\nadd device\nset storage=dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0\nset bootpri=0\nset id=0\nend\n",
    )
    .unwrap();
    let map = format!(
        "dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0={}",
        disk.display()
    );
    let diagnose = || -> serde_json::Value {
        let (_, out, err) = kzrescue(&[
            "diagnose",
            "--zone-config",
            s(&cfg),
            "--zone",
            "kz1",
            "--liveness-interval",
            "0",
            "--map",
            &map,
            "--json",
            "--json-int",
        ]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"))
    };
    let fixes = |v: &serde_json::Value, check: &str| -> Vec<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["check"] == check)
            .filter_map(|f| f["fix"].as_str().map(str::to_string))
            .collect()
    };
    let mut b = pristine.clone();
    zero_gpt_primary(&mut b, 512);
    zero_gpt_backup(&mut b, 512);
    std::fs::write(&disk, &b).unwrap();
    let v = diagnose();
    let f = fixes(&v, "recovery");
    assert!(
        f.iter()
            .any(|x| x.contains("partitions restore") && x.contains("--from scan")),
        "{v:#}"
    );
    let mut b = pristine.clone();
    let p = fixture_placement("gptdisk-x86-512.img");
    zero(&mut b, p.start, 2 * LABEL);
    std::fs::write(&disk, &b).unwrap();
    let v = diagnose();
    assert!(
        fixes(&v, "labels")
            .iter()
            .any(|x| x.starts_with("kzrescue label repair")),
        "{v:#}"
    );
}

// --- the x86 VTOC disk: an MBR (written by util-linux `sfdisk`) with one
// active Solaris2 (0xBF) partition from disk cylinder 1, the x86 disk's pool
// slice at cylinder 1 of that partition, under a VTOC_16 label in its
// sector 1 with the geometry illumos cmlb gives a disk under 1 GiB (64 heads
// × 32 sectors, 1 MiB cylinders), 73 data cylinders + 2 alternates, and the
// five backup labels cmlb writes on the last track of the partition's last
// cylinder. The label is written here from sys/dklabel.h (VTOC_16).

const X_NHEAD: u64 = 64;
const X_NSECT: u64 = 32;
const X_SPC: u64 = X_NHEAD * X_NSECT;
const X_NCYL: u64 = 73;
const X_ACYL: u64 = 2;
/// First sector of the Solaris fdisk partition.
const X_START: u64 = X_SPC;

fn x86_placement() -> Placement {
    Placement {
        start: (X_START + X_SPC) * 512,
        len: 72 << 20,
    }
}

fn x86_vtoc() -> [u8; 512] {
    let mut b = [0u8; 512];
    b[12..16].copy_from_slice(&0x600d_deeeu32.to_le_bytes()); // v_sanity
    b[16..20].copy_from_slice(&1u32.to_le_bytes()); // v_version
    b[28..30].copy_from_slice(&512u16.to_le_bytes()); // v_sectorsz
    b[30..32].copy_from_slice(&16u16.to_le_bytes()); // v_nparts
    // (slice, tag, flag, start sector in the partition, sectors)
    let parts = [
        (0usize, 2u16, 0u16, X_SPC as u32, (72 * X_SPC) as u32), // root
        (2, 5, 1, 0, (X_NCYL * X_SPC) as u32),                   // backup
        (8, 1, 1, 0, X_SPC as u32),                              // boot
    ];
    for (sl, tag, flag, start, size) in parts {
        let e = 72 + 12 * sl;
        b[e..e + 2].copy_from_slice(&tag.to_le_bytes());
        b[e + 2..e + 4].copy_from_slice(&flag.to_le_bytes());
        b[e + 4..e + 8].copy_from_slice(&start.to_le_bytes());
        b[e + 8..e + 12].copy_from_slice(&size.to_le_bytes());
    }
    let ascii = b"kzrescue test disk cyl 73 alt 2 hd 64 sec 32";
    b[328..328 + ascii.len()].copy_from_slice(ascii);
    b[456..460].copy_from_slice(&((X_NCYL + X_ACYL) as u32).to_le_bytes()); // pcyl
    b[460..464].copy_from_slice(&(X_NCYL as u32).to_le_bytes()); // ncyl
    b[464..466].copy_from_slice(&(X_ACYL as u16).to_le_bytes()); // acyl
    b[468..472].copy_from_slice(&(X_NHEAD as u32).to_le_bytes()); // nhead
    b[472..476].copy_from_slice(&(X_NSECT as u32).to_le_bytes()); // nsect
    b[476..478].copy_from_slice(&1u16.to_le_bytes()); // intrlv
    b[482..484].copy_from_slice(&3600u16.to_le_bytes()); // rpm
    b[508..510].copy_from_slice(&0xdabeu16.to_le_bytes());
    let mut x = 0u16;
    for w in b[..510].chunks(2) {
        x ^= u16::from_le_bytes([w[0], w[1]]);
    }
    b[510..512].copy_from_slice(&x.to_le_bytes());
    b
}

/// Makes `x86.img` in `dir` from the x86 GPT disk's pool slice; the MBR by
/// `sfdisk`.
fn make_x86(dir: &Path) -> PathBuf {
    let src = unpack_fixture("gptdisk-x86-512.img", dir);
    let gptdisk = std::fs::read(&src).unwrap();
    let vdev = slice(&gptdisk, fixture_placement("gptdisk-x86-512.img"));
    let _ = std::fs::remove_file(src);
    let part = (X_NCYL + X_ACYL) * X_SPC;
    let mut d = vec![0u8; ((X_START + part) * 512) as usize];
    let p = x86_placement();
    d[p.start as usize..p.start as usize + vdev.len()].copy_from_slice(&vdev);
    let l = x86_vtoc();
    let at = ((X_START + 1) * 512) as usize;
    d[at..at + 512].copy_from_slice(&l);
    let last_track = X_START + (X_NCYL + X_ACYL - 1) * X_SPC + (X_NHEAD - 1) * X_NSECT;
    for k in [1u64, 3, 5, 7, 9] {
        let at = ((last_track + k) * 512) as usize;
        d[at..at + 512].copy_from_slice(&l);
    }
    let out = dir.join("x86.img");
    std::fs::write(&out, d).unwrap();
    let mut c = Command::new("sfdisk")
        .args(["--quiet", "--no-reread", "--no-tell-kernel", s(&out)])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    c.stdin
        .take()
        .unwrap()
        .write_all(
            format!(
                "label: dos\nlabel-id: 0x4b5a5253\nstart={X_START}, size={part}, type=bf, bootable\n"
            )
            .as_bytes(),
        )
        .unwrap();
    assert!(c.wait().unwrap().success());
    out
}

/// sfdisk's view of the MBR: (start, size, type, bootable) per partition.
fn sfdisk_parts(disk: &Path) -> Vec<(u64, u64, String, bool)> {
    let o = Command::new("sfdisk")
        .arg("--json")
        .arg(disk)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["start"].as_u64().unwrap(),
                p["size"].as_u64().unwrap(),
                p["type"].as_str().unwrap().to_string(),
                p["bootable"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

/// x86 VTOC disks: (a) the VTOC sector alone zeroed (the MBR intact): only
/// the VTOC is rewritten, from its backups; (b) the first cylinder of the
/// disk and of the Solaris partition zeroed (MBR and VTOC gone): the
/// partition start is inferred from the backups, confirmed by the vdev at
/// slice 0's start, and the VTOC and an MBR are written. For both: the scan
/// finds the vdev, sfdisk reads the MBR back as it was, kzrescue reads slice
/// 0 where the vdev is, zdb -e imports from each label alone, files equal,
/// undo exact.
#[test]
fn x86_vtoc_is_restored_from_its_backups() {
    let t = "recovery_damage x86";
    if !require_tool("zdb", "zfsutils-linux", t) || !require_tool("sfdisk", "fdisk", t) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let disk = make_x86(dir);
    let mbr_parts = sfdisk_parts(&disk);
    assert_eq!(
        mbr_parts,
        vec![(X_START, (X_NCYL + X_ACYL) * X_SPC, "bf".to_string(), true)]
    );
    let p = x86_placement();
    let t0 = table_slice(&disk);
    assert_eq!((t0.start, t0.len), (p.start, p.len));
    let want = manifest(&[&disk]);
    let golden = fuse_golden("gptdisk-x86-512");
    for (f, h) in &golden {
        assert_eq!(want.get(f), Some(h), "undamaged x86 VTOC disk: {f}");
    }
    let pristine = std::fs::read(&disk).unwrap();
    let cases: [(&str, u64, u64, usize); 2] = [
        ("x86-vtoc-sector-zeroed", (X_START + 1) * 512, 512, 1),
        ("x86-first-cylinders-zeroed", 0, (X_START + X_SPC) * 512, 2),
    ];
    for (name, at, len, nwrites) in cases {
        println!("=== {name}");
        let mut b = pristine.clone();
        zero(&mut b, at, len);
        std::fs::write(&disk, &b).unwrap();
        let damaged = b;
        let found = scan(&disk, &[]);
        assert!(
            found.iter().any(|v| v.0 == p.start && v.1 == p.len),
            "{found:?}"
        );
        println!(
            "{name}: scan found the vdev at {:#x}, {} bytes",
            p.start, p.len
        );
        let j = dir.join(format!("{name}.kzj"));
        let base = [
            "partitions",
            "restore",
            s(&disk),
            "--from",
            "backup",
            "--liveness-interval",
            "0",
        ];
        let (code, out, err) = run(&[&base[..], &["--json", "--json-int"]].concat());
        assert_eq!(code, 0, "{out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["writes"].as_array().unwrap().len(), nwrites, "{out}");
        assert!(std::fs::read(&disk).unwrap() == damaged);
        let (code, out, err) = run(&[&base[..], &["--write", "--journal", s(&j)]].concat());
        assert_eq!(code, 0, "{out}{err}");
        let now = std::fs::read(&disk).unwrap();
        let vt = ((X_START + 1) * 512) as usize;
        assert_eq!(&now[vt..vt + 512], &x86_vtoc()[..]);
        // The partition table bytes are sfdisk's own (the disk identifier
        // and boot code of a lost MBR are not recoverable).
        assert_eq!(sfdisk_parts(&disk), mbr_parts);
        // Byte for byte but the CHS fields (a BIOS geometry nothing on the
        // disk records; kzrescue fills them from the label's, sfdisk from
        // its default 255 × 63).
        let no_chs = |m: &[u8]| {
            let mut t = m[446..512].to_vec();
            t[1..4].fill(0);
            t[5..8].fill(0);
            t
        };
        assert_eq!(no_chs(&now), no_chs(&pristine));
        println!(
            "{name}: sfdisk reads p1 bf bootable {X_START}+{} again",
            mbr_parts[0].1
        );
        let t = table_slice(&disk);
        assert_eq!((t.start, t.len), (p.start, p.len));
        let ok = import_alone(&slice(&now, p), &[], &dir.join(format!("zdb-{name}")));
        assert_eq!(ok, vec![0, 1, 2, 3]);
        println!("{name}: zdb -e imports from each label alone (labels 0 1 2 3)");
        assert_eq!(manifest(&[&disk]), want);
        println!("{name}: {} files, every SHA-256 equal", want.len());
        let (code, out, err) = run(&["undo", s(&j), "--write"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(std::fs::read(&disk).unwrap() == damaged);
        println!("{name}: undo restored the damaged bytes exactly");
    }
}

/// A one-disk kernel zone whose boot device is `disk` (device id 0).
fn zone_config(dir: &Path, disk: &Path) -> Vec<String> {
    let cfg = dir.join("kz1.cfg");
    std::fs::write(
        &cfg,
        "create -b\nset brand=solaris-kz\nadd device\nset storage=dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0\nset bootpri=0\nset id=0\nend\n",
    )
    .unwrap();
    vec![
        "--zone-config".into(),
        s(&cfg).into(),
        "--zone".into(),
        "kz1".into(),
        "--map".into(),
        format!(
            "dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0={}",
            disk.display()
        ),
        "--liveness-interval".into(),
        "0.2".into(),
        "--journal-dir".into(),
        s(dir).into(),
    ]
}

/// `repair` of a zone whose boot disk lost its partition table: refused
/// without `--restore-partitions` (exit 3, nothing written); the dry run with
/// it shows the table's writes; with `--write` the table comes back (the
/// rest of the repair runs on it), diagnose is clean, the pool imports from
/// each label alone, the files are equal, and undo (newest journal first)
/// puts the damaged bytes back exactly.
fn repair_restores(name: &str, dir: &Path, disk: &Path, p: Placement, gpt: bool) {
    println!("=== repair-restore-partitions-{name}");
    let zone = zone_config(dir, disk);
    let kz = |verb: &str, extra: &[&str]| {
        let mut a: Vec<&str> = vec![verb];
        a.extend(zone.iter().map(String::as_str).filter(|_| true));
        a.extend_from_slice(extra);
        run(&a)
    };
    let diagnose = || {
        let a: Vec<&str> = ["diagnose", "--json", "--json-int"]
            .into_iter()
            .chain(
                zone.iter()
                    .map(String::as_str)
                    .filter(|x| *x != "--journal-dir"),
            )
            .collect();
        // --journal-dir and its value are the last two: diagnose takes neither.
        let a = &a[..a.len() - 1];
        let (code, out, err) = run(a);
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        (code, v)
    };
    let damaged = std::fs::read(disk).unwrap();
    let (code, v) = diagnose();
    assert_ne!(code, 0, "{v:#}");
    let codes: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(codes.contains(&"KZ-RECOV-002"), "{v:#}");

    let (code, out, err) = kz("repair", &["--write"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("--restore-partitions"), "{err}");
    assert!(std::fs::read(disk).unwrap() == damaged);

    let (code, out, err) = kz("repair", &["--restore-partitions"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("device 0: partitions — dry run"), "{out}");
    assert!(out.contains("bytes change)"), "{out}");
    assert!(std::fs::read(disk).unwrap() == damaged);

    let (code, out, err) = kz("repair", &["--restore-partitions", "--write"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("the partition table is rebuilt"), "{out}");
    let (code, v) = diagnose();
    assert_eq!(code, 0, "{v:#}");
    println!("{name}: repair --restore-partitions --write: exit 0, diagnose then exits 0");
    let t = table_slice(disk);
    assert_eq!((t.start, t.len), (p.start, p.len));
    if gpt {
        sgdisk_ok(disk, 512);
        println!("{name}: sgdisk -v: no problems found");
    }
    let now = std::fs::read(disk).unwrap();
    let ok = import_alone(&slice(&now, p), &[], &dir.join("zdb"));
    assert_eq!(ok, vec![0, 1, 2, 3]);
    println!("{name}: zdb -e imports from each label alone (labels 0 1 2 3)");

    // Undo, newest journal first.
    let mut journals: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("kzrescue-repair-kz1-dev0-") && n.ends_with(".kzj")
        })
        .collect();
    let rank = |p: &PathBuf| {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        ["-partitions-", "-labels-", "-physpath-", "-hostdata-"]
            .iter()
            .position(|w| n.contains(w))
            .unwrap_or(9)
    };
    journals.sort_by_key(|p| std::cmp::Reverse(rank(p)));
    assert!(journals.iter().any(|j| rank(j) == 0), "{journals:?}");
    for j in &journals {
        let (code, out, err) = run(&["undo", s(j), "--write"]);
        assert_eq!(code, 0, "{out}{err}");
    }
    assert!(std::fs::read(disk).unwrap() == damaged);
    println!(
        "{name}: undo of {} journal(s) restored the damaged bytes exactly",
        journals.len()
    );
}

#[test]
fn repair_restores_partitions_only_with_the_flag() {
    let t = "repair_restores_partitions_only_with_the_flag";
    if !require_tool("zdb", "zfsutils-linux", t) || !require_tool("sgdisk", "gdisk", t) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // A real KZ disk with both GPT copies zeroed.
    let dir = tmp.path().join("gpt");
    std::fs::create_dir_all(&dir).unwrap();
    let disk = unpack_fixture("gptdisk-x86-512.img", &dir);
    let mut b = std::fs::read(&disk).unwrap();
    zero_gpt_primary(&mut b, 512);
    zero_gpt_backup(&mut b, 512);
    std::fs::write(&disk, &b).unwrap();
    let p = fixture_placement("gptdisk-x86-512.img");
    repair_restores("x86-512-both-gpt-copies-zeroed", &dir, &disk, p, true);

    // The SMI disk with its first cylinder zeroed.
    let dir = tmp.path().join("smi");
    std::fs::create_dir_all(&dir).unwrap();
    let disk = make_smi(&dir);
    let mut b = std::fs::read(&disk).unwrap();
    zero(&mut b, 0, NHEAD * NSECT * 512);
    std::fs::write(&disk, &b).unwrap();
    repair_restores(
        "smi-first-cylinder-zeroed",
        &dir,
        &disk,
        smi_placement(),
        false,
    );
}
