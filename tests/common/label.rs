//! Helpers for the label and uberblock tests: the zfs-test pool images, zdb
//! runs, parsing zdb's `-l`/`-lu` text, and a small pool made from scratch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kzrescue::zfs::ByteOrder;
use kzrescue::zfs::eck;
use kzrescue::zfs::label::{LABEL_SIZE, encode_vdev_phys, label_offsets};
use kzrescue::zfs::nvlist::{NvList, NvValue};
use kzrescue::zfs::uberblock::{RING_OFFSET, UBERBLOCK_MAGIC};

/// Where Debian's zfs-test package installs the OpenZFS test-suite pools.
pub const BLOCKFILE_DIRS: [&str; 2] = [
    "/usr/share/zfs/zfs-tests/tests/functional/cli_root/zpool_upgrade/blockfiles",
    "/usr/share/zfs/zfs-tests/tests/functional/cli_root/zpool_import/blockfiles",
];

/// The zfs-test pool images (`*.dat.bz2`), or `None` (with a SKIPPED line;
/// a panic under CI) when the package or the tools are missing.
pub fn zfs_test_images(test: &str) -> Option<Vec<PathBuf>> {
    if !super::require_tool("zdb", "zfsutils-linux", test)
        || !super::require_tool("bzip2", "bzip2", test)
    {
        return None;
    }
    let mut v: Vec<PathBuf> = BLOCKFILE_DIRS
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".dat.bz2"))
        .collect();
    v.sort();
    if v.is_empty() {
        if super::in_ci() {
            panic!("{test}: no zfs-test pool images (Debian package zfs-test) and CI=true");
        }
        println!("SKIPPED {test}: no pool images (install Debian package zfs-test)");
        return None;
    }
    Some(v)
}

/// Decompresses `src` (`x.dat.bz2`) into `dir`; returns the image path.
pub fn bunzip(src: &Path, dir: &Path) -> PathBuf {
    let name = src
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".bz2", "");
    let out = dir.join(name);
    let f = std::fs::File::create(&out).unwrap();
    let st = Command::new("bzip2")
        .arg("-dc")
        .arg(src)
        .stdout(f)
        .status()
        .expect("run bzip2");
    assert!(st.success(), "bzip2 -dc {}", src.display());
    out
}

/// Runs `zdb <flags> <file>` in UTC; returns (exit code, stdout).
pub fn zdb(flags: &str, file: &Path) -> (i32, String) {
    let o = Command::new("zdb")
        .arg(flags)
        .arg(file)
        .env("TZ", "UTC")
        .output()
        .expect("run zdb");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// Drops the lines kzrescue adds to zdb's shape (`checksums = `, `error = `,
/// `disagree = `, `active = `).
pub fn strip_extras(text: &str) -> String {
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("checksums = ")
                || t.starts_with("error = ")
                || t.starts_with("disagree = ")
                || t.starts_with("active = "))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// One label's config as zdb printed it, flattened to path → value.
#[derive(Debug, Default, Clone)]
pub struct ZdbLabel {
    /// Label number of the `LABEL n` banner.
    pub index: usize,
    /// `path` → value as printed (`'str'`, `123`, `{}` for a list, `` for a flag).
    pub fields: BTreeMap<String, String>,
    /// The `labels = ` line.
    pub group: Vec<usize>,
}

/// One uberblock as zdb printed it.
#[derive(Debug, Default, Clone)]
pub struct ZdbUber {
    /// Label banner it was printed under.
    pub label: usize,
    /// Slot number.
    pub slot: usize,
    /// `key = value` lines.
    pub fields: BTreeMap<String, String>,
    /// The `labels = ` line.
    pub group: Vec<usize>,
}

/// What `zdb -l`/`-lu` printed.
#[derive(Debug, Default)]
pub struct ZdbOut {
    /// Printed configs (first label of each group).
    pub labels: Vec<ZdbLabel>,
    /// `failed to unpack label n`.
    pub unpack_failed: Vec<usize>,
    /// Printed uberblocks.
    pub ubers: Vec<ZdbUber>,
}

fn numbers(s: &str) -> Vec<usize> {
    s.split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect()
}

/// Parses zdb 2.1's `-l` / `-lu` output.
pub fn parse_zdb(text: &str) -> ZdbOut {
    let mut out = ZdbOut::default();
    let mut cur_label = 0usize;
    let mut in_config = false;
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.starts_with("------") {
            continue;
        }
        if let Some(n) = line.strip_prefix("LABEL ") {
            cur_label = n.trim().parse().unwrap();
            in_config = false;
            continue;
        }
        if let Some(n) = line.strip_prefix("failed to unpack label ") {
            out.unpack_failed.push(n.trim().parse().unwrap());
            in_config = false;
            continue;
        }
        if let Some(rest) = line.strip_prefix("    Uberblock[") {
            let slot = rest.trim_end_matches(']').parse().unwrap();
            let mut u = ZdbUber {
                label: cur_label,
                slot,
                ..Default::default()
            };
            while let Some(l) = lines.peek() {
                if let Some(kv) = l.strip_prefix('\t') {
                    let (k, v) = kv.split_once(" = ").unwrap();
                    u.fields.insert(k.to_string(), v.to_string());
                    lines.next();
                } else if let Some(g) = l.strip_prefix("        labels = ") {
                    u.group = numbers(g);
                    lines.next();
                    break;
                } else {
                    break;
                }
            }
            out.ubers.push(u);
            in_config = false;
            continue;
        }
        if let Some(g) = line.strip_prefix("    labels = ") {
            if let Some(l) = out.labels.last_mut() {
                l.group = numbers(g);
            }
            in_config = false;
            continue;
        }
        // An nvlist line.
        let indent = line.len() - line.trim_start().len();
        if indent < 4 {
            continue;
        }
        if !in_config {
            out.labels.push(ZdbLabel {
                index: cur_label,
                ..Default::default()
            });
            in_config = true;
            stack.clear();
        }
        let depth = (indent - 4) / 4;
        stack.truncate(depth);
        let prefix: String = stack.iter().map(|(_, p)| format!("{p}/")).collect();
        let t = line.trim_start();
        let fields = &mut out.labels.last_mut().unwrap().fields;
        if let Some((k, v)) = t.split_once(": ") {
            fields.insert(format!("{prefix}{k}"), v.to_string());
        } else if let Some(k) = t.strip_suffix(':') {
            fields.insert(format!("{prefix}{k}/"), "{}".into());
            stack.push((depth, k.to_string()));
        } else {
            fields.insert(format!("{prefix}{t}"), String::new());
        }
    }
    out
}

/// Flattens a config from kzrescue's JSON the same way.
pub fn flatten_json(v: &serde_json::Value) -> BTreeMap<String, String> {
    fn scalar(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => format!("'{s}'"),
            serde_json::Value::Bool(true) => String::new(),
            other => other.to_string(),
        }
    }
    fn walk(
        prefix: &str,
        obj: &serde_json::Map<String, serde_json::Value>,
        out: &mut BTreeMap<String, String>,
    ) {
        for (k, v) in obj {
            match v {
                serde_json::Value::Object(o) => {
                    let p = format!("{prefix}{k}/");
                    out.insert(p.clone(), "{}".into());
                    walk(&p, o, out);
                }
                serde_json::Value::Array(a) => {
                    for (i, e) in a.iter().enumerate() {
                        match e {
                            serde_json::Value::Object(o) => {
                                let p = format!("{prefix}{k}[{i}]/");
                                out.insert(p.clone(), "{}".into());
                                walk(&p, o, out);
                            }
                            other => {
                                out.insert(format!("{prefix}{k}[{i}]"), scalar(other));
                            }
                        }
                    }
                }
                other => {
                    out.insert(format!("{prefix}{k}"), scalar(other));
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Some(o) = v.as_object() {
        walk("", o, &mut out);
    }
    out
}

fn s(v: &str) -> NvValue {
    NvValue::String(v.into())
}

/// A label config shaped like a single-file pool's.
pub fn file_pool_config(pool_guid: u64, guid: u64, txg: u64, path: &str) -> NvList {
    let mut tree = NvList::new();
    tree.set("type", s("file"));
    tree.set("id", NvValue::UInt64(0));
    tree.set("guid", NvValue::UInt64(guid));
    tree.set("path", s(path));
    tree.set("metaslab_array", NvValue::UInt64(23));
    tree.set("metaslab_shift", NvValue::UInt64(19));
    tree.set("ashift", NvValue::UInt64(9));
    tree.set("asize", NvValue::UInt64(62_390_272));
    let mut c = NvList::new();
    c.set("version", NvValue::UInt64(15));
    c.set("name", s("synthetic"));
    c.set("state", NvValue::UInt64(1));
    c.set("txg", NvValue::UInt64(txg));
    c.set("pool_guid", NvValue::UInt64(pool_guid));
    c.set("hostid", NvValue::UInt64(0x8307_c35e));
    c.set("hostname", s("kzhost"));
    c.set("top_guid", NvValue::UInt64(guid));
    c.set("guid", NvValue::UInt64(guid));
    c.set("vdev_tree", NvValue::NvList(tree));
    c
}

/// Writes a 64 MiB pool-shaped file built by kzrescue itself: four labels
/// in byte order `e`, uberblocks for txg 1..=txg in every ring.
pub fn synthetic_pool(path: &Path, e: ByteOrder, txg: u64) {
    synthetic_pool_with(path, e, txg, 9, 1024);
}

/// [`synthetic_pool`] with a given top-level `ashift` in the config and
/// uberblock slots of `slot` bytes.
pub fn synthetic_pool_with(path: &Path, e: ByteOrder, txg: u64, ashift: u64, slot: usize) {
    let size = 64u64 << 20;
    let f = std::fs::File::create(path).unwrap();
    f.set_len(size).unwrap();
    use std::os::unix::fs::FileExt;
    let (pool_guid, guid) = (0x1111_2222_3333_4444u64, 0x5555_6666_7777_8888u64);
    let mut cfg = file_pool_config(pool_guid, guid, txg, &path.to_string_lossy());
    if let Some(NvValue::NvList(t)) = cfg.get_mut("vdev_tree") {
        t.set("ashift", NvValue::UInt64(ashift));
    }
    let count = (128 * 1024 / slot) as u64;
    let header = [1, u8::from(e == ByteOrder::Little), 0, 0];
    for off in label_offsets(size) {
        let phys = encode_vdev_phys(header, &cfg, e, off).unwrap();
        f.write_all_at(&phys, off + 16 * 1024).unwrap();
        for t in 1..=txg {
            let at = off + RING_OFFSET + (t % count) * slot as u64;
            let mut b = vec![0u8; slot];
            let words = [
                UBERBLOCK_MAGIC,
                15,
                t,
                pool_guid.wrapping_add(guid),
                1_700_000_000 + t,
            ];
            for (i, w) in words.iter().enumerate() {
                b[8 * i..8 * i + 8].copy_from_slice(&e.put_u64(*w));
            }
            eck::seal(&mut b, at, e);
            f.write_all_at(&b, at).unwrap();
        }
    }
    assert_eq!(LABEL_SIZE, 262_144);
}
