//! The standing hostile-image campaign (issue 12, item 8).
//!
//! A generator lays out mutated pools with the synthetic writer in
//! `tests/synthpool/`: *single-field* mutations set one field of one dnode
//! (ZPL or MOS: type, levels, block size, maxblkid, a znode word — mode,
//! size, times, parent, links — or a block-pointer word) to an extreme or
//! random value *before* the blocks are sealed, so every checksum in the
//! pool verifies and the parsers above the checksums are what is tested;
//! *structural* mutations change the model (hostile names, duplicate
//! entries, directories that contain themselves, entries naming free or
//! absurd objects); *raw* mutations overwrite bytes of a label or an
//! uberblock ring (unchecksummed garbage for `label`/`uberblocks`); and the
//! *documented garbage* of issue 12 (a destroyed active uberblock, a root
//! retyped as a file, an impossible ZPL version) must end in a warning and
//! exit 1.
//!
//! A driver runs every read command on each image under `timeout` (20 s,
//! then SIGKILL) and an address-space limit (`prlimit --as`, 2 GiB), and
//! counts: panics, hangs, memory kills (an allocation refused), files
//! created outside an export's destination, silent successes (exit 0 on
//! documented garbage), empty-stderr failures (non-zero exit, nothing on
//! stderr), and contract-breaking messages (an exit-2 failure whose stderr
//! does not hold exactly one line besides `kzrescue: warning:` lines about
//! other problems met on the way, or any message with the `offset 0x0`
//! placeholder).
//!
//! `cargo test --release --test hostile_campaign` runs a short round with a
//! fixed seed (CI). A long round: `KZ_CAMPAIGN_IMAGES=1000
//! KZ_CAMPAIGN_SEED=N cargo test --release --test hostile_campaign -- --nocapture`;
//! `tests/FUZZING.md` records one.

mod common;

use common::synthpool::{Dn, Fs, Hooks, Node, ROOT, Spec, Writer, ot};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// An extreme or random 64-bit value.
    fn value(&mut self) -> u64 {
        const EDGES: [u64; 12] = [
            0,
            1,
            2,
            0x7f,
            0xff,
            0xffff,
            0xffff_ffff,
            1 << 32,
            (1 << 63) - 1,
            1 << 63,
            u64::MAX - 1,
            u64::MAX,
        ];
        match self.below(3) {
            0 => EDGES[self.below(EDGES.len() as u64) as usize],
            1 => self.next() >> self.below(64),
            _ => self.next(),
        }
    }
}

/// What a mutated image must do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// Anything but a crash, a hang, a memory kill or a broken message.
    Bounded,
    /// Documented garbage: the listed command must not exit 0.
    Problem(&'static str),
}

/// One generated image.
struct Case {
    what: String,
    img: Vec<u8>,
    expect: Expect,
}

/// Sets one field of a dnode (by `pick`) to `v`.
fn mutate_dn(dn: &mut Dn, pick: u64, v: u64) -> String {
    match pick % 12 {
        0 => {
            dn.dtype = v as u8;
            format!("dtype={}", v as u8)
        }
        1 => {
            dn.nlevels = v as u8;
            format!("nlevels={}", v as u8)
        }
        2 => {
            dn.indblkshift = v as u8;
            format!("indblkshift={}", v as u8)
        }
        3 => {
            dn.bonustype = v as u8;
            format!("bonustype={}", v as u8)
        }
        4 => {
            dn.datablksz = (v as u32 & 0xffff) * 512;
            format!("datablksz={}", dn.datablksz)
        }
        5 => {
            dn.maxblkid = v;
            format!("maxblkid={v:#x}")
        }
        6..=9 if !dn.bonus.is_empty() => {
            // a word of the bonus (znode: times, gen, mode, size, parent,
            // links, xattr, rdev, flags, uid, gid; DSL: object numbers, bps)
            let words = dn.bonus.len() / 8;
            let w = (pick / 12) as usize % words.max(1);
            dn.bonus[w * 8..w * 8 + 8].copy_from_slice(&v.to_le_bytes());
            format!("bonus word {w}={v:#x}")
        }
        _ => {
            // a word of the first block pointer
            let w = (pick / 12) as usize % 16;
            if let Some(bp) = dn.blkptrs.first_mut() {
                bp.0[w] = v;
            }
            format!("blkptr word {w}={v:#x}")
        }
    }
}

/// A single-field mutation of a ZPL or MOS object.
fn single_field(rng: &mut Rng) -> Case {
    let mos = rng.below(4) == 0;
    let obj = if mos {
        1 + rng.below(10)
    } else {
        1 + rng.below(12)
    };
    let pick = rng.next();
    let v = rng.value();
    let mut what = String::new();
    let mut hook = |_: &mut Writer, o: u64, dn: &mut Dn| {
        if o == obj {
            what = mutate_dn(dn, pick, v);
        }
    };
    let img = if mos {
        Spec::default().build_with(Hooks {
            fs: None,
            mos: Some(&mut hook),
        })
    } else {
        Spec::default().build_with(Hooks {
            fs: Some(&mut hook),
            mos: None,
        })
    };
    Case {
        what: format!("{} object {obj}: {what}", if mos { "MOS" } else { "ZPL" }),
        img,
        expect: Expect::Bounded,
    }
}

/// A structural mutation of the head file system's model.
fn structural(rng: &mut Rng) -> Case {
    let names = [
        "../escape",
        "..",
        ".",
        "a/b",
        "/abs",
        "dir",
        "hello.txt",
        "%2F",
        "\u{1b}[2Jterm",
    ];
    let mut fs = Fs::standard();
    let kind = rng.below(6);
    let dirs = [ROOT, 5, 7];
    let d = dirs[rng.below(3) as usize];
    let entry = |fs: &mut Fs, name: &str, obj: u64| {
        if let Some(Node::Dir(e)) = fs.objects.get_mut(&d) {
            e.push((name.to_string(), obj));
        }
    };
    let what = match kind {
        0 => {
            let n = names[rng.below(names.len() as u64) as usize];
            entry(&mut fs, n, 4);
            format!("dir {d}: entry {n:?} -> file")
        }
        1 => {
            let n = names[rng.below(names.len() as u64) as usize];
            fs.objects.insert(20, Node::Symlink("../../..".into()));
            entry(&mut fs, n, 20);
            entry(&mut fs, n, 5);
            format!("dir {d}: symlink {n:?} -> ../../.. then dir {n:?}")
        }
        2 => {
            let target = dirs[rng.below(3) as usize];
            entry(&mut fs, "loop", target);
            format!("dir {d}: entry loop -> dir {target}")
        }
        3 => {
            let o = [0u64, 2, 13, 1000, (1 << 48) - 1][rng.below(5) as usize];
            entry(&mut fs, "ghost", o);
            format!("dir {d}: entry ghost -> object {o}")
        }
        4 => {
            // a 4 KiB leaf holds some 40 more
            let n = 1 + rng.below(30) as usize;
            if let Some(Node::FatDir(e)) = fs.objects.get_mut(&10) {
                for i in 0..n {
                    e.push((format!("n{i}"), 11));
                }
            }
            format!("fat dir: {n} more names of one file")
        }
        _ => {
            fs.objects
                .insert(4, Node::File(vec![0x5a; 1 + rng.below(4096) as usize], 512));
            entry(&mut fs, "hello.txt", 4);
            format!("dir {d}: duplicate hello.txt")
        }
    };
    // garbage ls must report: a name no directory can hold, or a second
    // entry of one name (kind 1 always adds one; kind 0 when the name is
    // already in the root)
    let hostile = ["../escape", "..", ".", "a/b", "/abs", "dir", "hello.txt"];
    let named = |h: &&str| what.contains(&format!("entry {h:?} "));
    let expect = if d == ROOT && (kind == 1 || (kind == 0 && hostile.iter().any(named))) {
        Expect::Problem("ls")
    } else {
        Expect::Bounded
    };
    Case {
        what: format!("structural: {what}"),
        img: Spec {
            fs,
            ..Spec::default()
        }
        .build(),
        expect,
    }
}

/// Raw bytes of a label or uberblock ring overwritten (no checksum fixed).
fn raw(rng: &mut Rng) -> Case {
    let mut img = Spec::default().build();
    let size = img.len() as u64;
    let label = rng.below(4);
    let base = [0, 256 << 10, size - (512 << 10), size - (256 << 10)][label as usize];
    // the nvlist's first bytes, or the active slot (txg 10 of 1 KiB slots)
    let (off, len) = if rng.below(2) == 0 {
        (base + (16 << 10) + rng.below(1024), 1 + rng.below(16))
    } else {
        (
            base + (128 << 10) + 10 * 1024 + rng.below(1024),
            1 + rng.below(64),
        )
    };
    for i in 0..len {
        img[(off + i) as usize] = rng.next() as u8;
    }
    Case {
        what: format!("raw: label {label}, {len} bytes at {off:#x}"),
        img,
        expect: Expect::Bounded,
    }
}

/// The documented garbage of issue 12.
fn documented(rng: &mut Rng) -> Case {
    match rng.below(3) {
        0 => {
            let mut img = Spec::default().build();
            let size = img.len() as u64;
            let label = rng.below(4);
            let base = [0, 256 << 10, size - (512 << 10), size - (256 << 10)][label as usize];
            let at = (base + (128 << 10) + 10 * 1024) as usize;
            img[at..at + 8].copy_from_slice(&rng.next().to_le_bytes());
            Case {
                what: format!("documented: active uberblock of label {label} destroyed"),
                img,
                expect: Expect::Problem("uberblocks"),
            }
        }
        1 => {
            let t = [ot::PLAIN_FILE, 200, 0x13][rng.below(3) as usize];
            let mode = [0o100644u64, 0o40755][rng.below(2) as usize];
            let mut hook = |_: &mut Writer, o: u64, dn: &mut Dn| {
                if o == ROOT {
                    if mode == 0o40755 {
                        dn.dtype = t;
                    } else {
                        dn.bonus[72..80].copy_from_slice(&mode.to_le_bytes());
                    }
                }
            };
            Case {
                what: if mode == 0o40755 {
                    format!("documented: root dnode type {t}")
                } else {
                    "documented: root znode mode a regular file".into()
                },
                img: Spec::default().build_with(Hooks {
                    fs: Some(&mut hook),
                    mos: None,
                }),
                expect: Expect::Problem("ls"),
            }
        }
        _ => {
            let v = [0u64, 64, 1 << 32, u64::MAX][rng.below(4) as usize];
            let mut hook = |w: &mut Writer, o: u64, dn: &mut Dn| {
                if o == 1 {
                    let z = common::synthpool::micro_zap(&[
                        ("VERSION", v),
                        ("ROOT", ROOT),
                        ("DELETE_QUEUE", 2),
                    ]);
                    *dn = common::synthpool::object(
                        w,
                        ot::MASTER_NODE,
                        z.len() as u32,
                        &z,
                        0,
                        vec![],
                    );
                }
            };
            Case {
                what: format!("documented: ZPL version {v}"),
                img: Spec::default().build_with(Hooks {
                    fs: Some(&mut hook),
                    mos: None,
                }),
                expect: Expect::Problem("ls"),
            }
        }
    }
}

fn generate(rng: &mut Rng) -> Case {
    match rng.below(10) {
        0..=4 => single_field(rng),
        5..=6 => structural(rng),
        7..=8 => raw(rng),
        _ => documented(rng),
    }
}

/// Counts of one round.
#[derive(Default, Debug)]
struct Counts {
    images: usize,
    runs: usize,
    exit: BTreeMap<i32, usize>,
    panics: Vec<String>,
    hangs: Vec<String>,
    memory_kills: Vec<String>,
    outside: Vec<String>,
    silent: Vec<String>,
    empty_stderr: Vec<String>,
    contract: Vec<String>,
}

/// Every path under `dir` except `skip`, with its size.
fn listing(dir: &Path, skip: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.starts_with(skip) {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.push((p, m.len()));
        }
    }
    out.sort();
    out
}

const TIMEOUT_S: &str = "20";
const AS_LIMIT: &str = "2147483648";

/// Runs one command under the limits; returns (exit code or 128+signal,
/// stderr).
fn limited(args: &[&str]) -> (i32, String) {
    let out = Command::new("timeout")
        .args([
            "-s",
            "KILL",
            TIMEOUT_S,
            "prlimit",
            &format!("--as={AS_LIMIT}"),
        ])
        .arg(common::kzrescue_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run timeout/prlimit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn round(seed: u64, images: usize, work: &Path) -> Counts {
    let mut rng = Rng(seed | 1);
    let mut c = Counts::default();
    let parent = work.join("parent");
    std::fs::create_dir_all(&parent).unwrap();
    std::fs::write(parent.join("bystander"), b"x").unwrap();
    for i in 0..images {
        let case = generate(&mut rng);
        let img = common::synthpool::save(work, "campaign.img", &case.img);
        let dest = parent.join(format!("export-{i}"));
        let tar = work.join("campaign.tar");
        let before = listing(&parent, &dest);
        let cmds: Vec<(&str, Vec<&str>)> = vec![
            ("label", vec!["label", &img]),
            ("uberblocks", vec!["uberblocks", &img]),
            ("partitions", vec!["partitions", &img]),
            ("datasets", vec!["datasets", &img]),
            ("ls", vec!["ls", &img, "synth:/"]),
            ("ls dir", vec!["ls", &img, "synth:/dir"]),
            ("cat", vec!["cat", &img, "synth:/hello.txt"]),
            ("cat big", vec!["cat", &img, "synth:/dir/big.bin"]),
            ("manifest", vec!["manifest", "--json-int", &img, "synth"]),
            (
                "export --to",
                vec!["export", &img, "synth", "--to", dest.to_str().unwrap()],
            ),
            (
                "export --tar",
                vec!["export", &img, "synth", "--tar", tar.to_str().unwrap()],
            ),
        ];
        for (name, args) in cmds {
            let (code, stderr) = limited(&args);
            c.runs += 1;
            *c.exit.entry(code).or_default() += 1;
            let tag = format!("#{i} {} | {name}: exit {code}", case.what);
            if stderr.contains("panicked") || code == 101 {
                c.panics.push(format!("{tag}\n{stderr}"));
            } else if code == 137 || code == 124 {
                c.hangs.push(tag.clone());
            } else if stderr.contains("memory allocation of") || code == 134 {
                c.memory_kills.push(format!("{tag}\n{stderr}"));
            }
            if code != 0 && code != 141 && stderr.trim().is_empty() {
                c.empty_stderr.push(tag.clone());
            }
            // one line for the failure (warnings about other problems
            // found on the way are lines of their own)
            let failure_lines = stderr
                .lines()
                .filter(|l| !l.starts_with("kzrescue: warning:"))
                .count();
            if code == 2 && failure_lines != 1 {
                c.contract.push(format!(
                    "{tag}: {failure_lines} failure lines on stderr\n{stderr}"
                ));
            }
            if stderr.contains("offset 0x0:") || stderr.contains("offset 0x0 ") {
                c.contract
                    .push(format!("{tag}: offset 0x0 placeholder\n{stderr}"));
            }
            if code == 0 && case.expect == Expect::Problem(name) {
                c.silent.push(tag.clone());
            }
        }
        let after = listing(&parent, &dest);
        if before != after {
            c.outside.push(format!("#{i} {}", case.what));
        }
        let _ = std::fs::remove_dir_all(&dest);
        c.images += 1;
    }
    c
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn campaign_round() {
    let t = "campaign_round";
    if !common::require_tool("timeout", "coreutils", t)
        || !common::require_tool("prlimit", "util-linux", t)
    {
        return;
    }
    let images = env_u64("KZ_CAMPAIGN_IMAGES", 40) as usize;
    let seed = env_u64("KZ_CAMPAIGN_SEED", 0x6b7a_7265_7363_7565);
    let work = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let c = round(seed, images, work.path());
    println!(
        "campaign: seed {seed:#x}, {} images, {} runs in {:.0} s; exit codes {:?}",
        c.images,
        c.runs,
        start.elapsed().as_secs_f64(),
        c.exit
    );
    println!(
        "panics {}, hangs {}, memory kills {}, files outside the destination {}, \
         silent successes {}, empty-stderr failures {}, contract-breaking messages {}",
        c.panics.len(),
        c.hangs.len(),
        c.memory_kills.len(),
        c.outside.len(),
        c.silent.len(),
        c.empty_stderr.len(),
        c.contract.len()
    );
    let all: Vec<&String> = c
        .panics
        .iter()
        .chain(&c.hangs)
        .chain(&c.memory_kills)
        .chain(&c.outside)
        .chain(&c.silent)
        .chain(&c.empty_stderr)
        .chain(&c.contract)
        .collect();
    for f in all.iter().take(40) {
        println!("FAIL {f}");
    }
    assert!(all.is_empty(), "{} findings (first ones above)", all.len());
}
