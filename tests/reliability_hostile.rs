//! Resource bounds on hostile *structures* (issue 8, item 4): pools whose
//! checksums all verify but whose block trees, directories, ZAPs and DSL
//! trees loop or claim absurd sizes. Each pool is laid out by the synthetic
//! writer in `tests/synthpool/`; a positive control first proves that the
//! well-formed pool reads correctly, so that every hostile variant differs
//! from a readable pool by exactly the one structure under test. Every
//! command runs the real CLI, reaped with `wait4` for its peak RSS and CPU
//! time (as `tests/reliability_bounds.rs` does): < 512 MiB, < 30 s of CPU,
//! killed after 120 s.

mod common;

use common::bounded::{MAX_CPU_S, MAX_RSS_KIB, Outcome, run, run_limited};
use common::synthpool::{Bp, Dn, Hooks, Node, ROOT, Spec, Writer, mos, ot};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Asserts the bounds and that the run did not crash; returns the outcome.
fn bounded(what: &str, args: &[&str]) -> Outcome {
    let o = run(args);
    check_bounds(what, &o);
    o
}

fn check_bounds(what: &str, o: &Outcome) {
    println!(
        "{what}: exit {} in {:.2} s CPU, peak RSS {} KiB, {} bytes out",
        o.code,
        o.cpu_s,
        o.rss_kib,
        o.stdout.len()
    );
    // a closed pipe ends kzrescue by SIGPIPE, as it ends cat(1)
    assert!(
        o.code >= 0 || (o.code == -libc::SIGPIPE && o.stdout.len() >= 1 << 20),
        "{what}: killed by signal {}\n{}",
        -o.code,
        o.stderr
    );
    assert!(
        !o.stderr.contains("panicked"),
        "{what}: panic\n{}",
        o.stderr
    );
    assert!(
        o.rss_kib < MAX_RSS_KIB,
        "{what}: peak RSS {} KiB",
        o.rss_kib
    );
    assert!(o.cpu_s < MAX_CPU_S, "{what}: {:.1} s CPU", o.cpu_s);
    assert!(
        o.stdout.len() < 64 << 20,
        "{what}: {} bytes of output",
        o.stdout.len()
    );
}

/// Asserts the bounds and a non-zero exit whose output mentions every one
/// of `needles`; returns the combined output.
fn bounded_error(what: &str, args: &[&str], needles: &[&str]) -> String {
    let o = bounded(what, args);
    let out = o.out();
    assert!(o.code != 0, "{what}: hostile input accepted\n{out}");
    for n in needles {
        assert!(out.contains(n), "{what}: no {n:?} in\n{out}");
    }
    out
}

fn ok(what: &str, args: &[&str]) -> Outcome {
    let o = bounded(what, args);
    assert_eq!(o.code, 0, "{what}: exit {}\n{}", o.code, o.out());
    o
}

fn manifest_paths(json: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(json).unwrap();
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn synthetic_pool_reads_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let img = common::synthpool::save(dir.path(), "synth.img", &Spec::default().build());
    let o = ok("datasets", &["datasets", &img]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    for l in [
        "Dataset synth [ZPL], ID 3,",
        "Dataset synth@s1 [ZPL], ID 10,",
        "Dataset synth/home [ZPL], ID 7,",
    ] {
        assert!(text.contains(l), "no {l:?} in\n{text}");
    }
    let o = ok("ls", &["ls", &img, "synth:/"]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        text.contains(
            "-rw-r--r--   1  1000  1000         22 2023-11-14 22:13:20.000000000 +0000 hello.txt"
        ),
        "{text}"
    );
    assert!(
        text.contains("drwxr-xr-x") && text.contains(" dir\n"),
        "{text}"
    );
    assert!(text.contains("link -> dir/big.bin"), "{text}");
    let o = ok("ls fat dir", &["ls", &img, "synth:/fat"]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(text.contains(" a\n") && text.contains(" b\n"), "{text}");
    let o = ok("cat big", &["cat", &img, "synth:/dir/big.bin"]);
    assert_eq!(o.stdout, common::synthpool::big_bytes());
    let o = ok("cat deep", &["cat", &img, "synth:/dir/sub/deep.txt"]);
    assert_eq!(o.stdout, b"deep\n");
    let o = ok("cat snapshot", &["cat", &img, "synth@s1:/hello.txt"]);
    assert_eq!(o.stdout, b"hello, synthetic pool\n");
    let o = ok("cat child", &["cat", &img, "synth/home:/readme"]);
    assert_eq!(o.stdout, b"child dataset\n");
    let o = ok("manifest", &["manifest", "--json-int", &img, "synth"]);
    let paths = manifest_paths(&o.stdout);
    assert_eq!(
        paths,
        [
            "/",
            "/dir",
            "/dir/big.bin",
            "/dir/sub",
            "/dir/sub/deep.txt",
            "/fat",
            "/fat/a",
            "/fat/b",
            "/hello.txt",
            "/link"
        ]
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let big = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/dir/big.bin")
        .unwrap();
    assert_eq!(
        big["sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(common::synthpool::big_bytes()))
    );
    let out = dir.path().join("export");
    ok(
        "export",
        &["export", &img, "synth", "--to", out.to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read(out.join("dir/big.bin")).unwrap(),
        common::synthpool::big_bytes()
    );
    assert_eq!(
        std::fs::read_link(out.join("link")).unwrap().to_str(),
        Some("dir/big.bin")
    );
}

/// The standard pool with MOS object `obj` changed by `f`.
fn with_mos_object(spec: &Spec, obj: u64, mut f: impl FnMut(&mut Writer, &mut Dn)) -> Vec<u8> {
    let mut hook = |w: &mut Writer, o: u64, dn: &mut Dn| {
        if o == obj {
            f(w, dn)
        }
    };
    spec.build_with(Hooks {
        fs: None,
        mos: Some(&mut hook),
    })
}

/// Sets a legacy znode's size field.
fn set_size(dn: &mut Dn, size: u64) {
    dn.bonus[80..88].copy_from_slice(&size.to_le_bytes());
}

/// Runs every walking command on `img`'s head file system and checks the
/// bounds; returns the combined output of all of them.
fn walk_all(what: &str, img: &str, dir: &std::path::Path) -> Vec<Outcome> {
    let stem: String = what
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let out = dir.join(format!("export-{stem}"));
    let tar = dir.join(format!("{stem}.tar"));
    vec![
        bounded(&format!("{what}: datasets"), &["datasets", img]),
        bounded(&format!("{what}: ls /"), &["ls", img, "synth:/"]),
        bounded(
            &format!("{what}: manifest"),
            &["manifest", "--json-int", img, "synth"],
        ),
        bounded(
            &format!("{what}: export --to"),
            &["export", img, "synth", "--to", out.to_str().unwrap()],
        ),
        bounded(
            &format!("{what}: export --tar"),
            &["export", img, "synth", "--tar", tar.to_str().unwrap()],
        ),
    ]
}

// ---- directories that contain themselves ----

#[test]
fn directory_loops_end_in_warnings() {
    let dir = tempfile::tempdir().unwrap();
    // the root directory holds an entry for itself
    let mut spec = Spec::default();
    if let Some(Node::Dir(e)) = spec.fs.objects.get_mut(&ROOT) {
        e.push(("loop".into(), ROOT));
    }
    let img = common::synthpool::save(dir.path(), "selfdir.img", &spec.build());
    let runs = walk_all("root contains itself", &img, dir.path());
    for o in &runs[2..] {
        assert_eq!(o.code, 1, "{}", o.out());
        assert!(o.out().contains("/loop: directory object 3"), "{}", o.out());
        assert!(
            o.out()
                .contains("already entered as /: the directory tree loops"),
            "{}",
            o.out()
        );
    }
    let m = manifest_paths(&runs[2].stdout);
    assert_eq!(m.len(), 10, "{m:?}");
    // a path through the loop resolves (as ZFS would) without recursion
    let o = ok(
        "ls /loop/loop/loop/dir",
        &["ls", &img, "synth:/loop/loop/loop/dir"],
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("big.bin"));

    // two steps: /dir/sub/up -> /dir
    let mut spec = Spec::default();
    if let Some(Node::Dir(e)) = spec.fs.objects.get_mut(&7) {
        e.push(("up".into(), 5));
    }
    let img = common::synthpool::save(dir.path(), "cycle.img", &spec.build());
    let runs = walk_all("dir/sub/up -> dir", &img, dir.path());
    for o in &runs[2..] {
        assert_eq!(o.code, 1, "{}", o.out());
        assert!(
            o.out()
                .contains("/dir/sub/up: directory object 5 at byte offset 0x"),
            "{}",
            o.out()
        );
    }
    // the fat-ZAP directory holds its parent
    let mut spec = Spec::default();
    if let Some(Node::FatDir(e)) = spec.fs.objects.get_mut(&10) {
        e.push(("parent".into(), ROOT));
    }
    let img = common::synthpool::save(dir.path(), "fatcycle.img", &spec.build());
    let runs = walk_all("fat/parent -> /", &img, dir.path());
    for o in &runs[2..] {
        assert_eq!(o.code, 1, "{}", o.out());
        assert!(
            o.out().contains("/fat/parent: directory object 3"),
            "{}",
            o.out()
        );
    }
}

// ---- block-pointer trees that loop ----

/// `/dir/big.bin` (object 6: 20 blocks of 1 KiB under one 16 KiB indirect
/// block) with entry 10 of its indirect block pointing back at the indirect
/// block itself, claiming `level`. The back pointer covers only the first
/// 512 bytes (entries 0–3), so its fletcher4 checksum is that of bytes it
/// does not itself lie in: every checksum in the pool verifies.
fn indirect_points_at_itself(level: u8) -> Vec<u8> {
    common::synthpool::with_fs_object(6, |w, dn| {
        assert_eq!(dn.nlevels, 2);
        let l1 = dn.blkptrs[0];
        let first = w.get(l1.offset(), 512).to_vec();
        let back = common::synthpool::bp_for(l1.offset(), &first, ot::PLAIN_FILE, level, 1);
        dn.blkptrs[0] = w.set_child(&l1, 10, &back);
    })
}

/// `/dir/big.bin` rebuilt as 40 blocks of 1 KiB (blocks 8–31 holes) under
/// 1 KiB indirect blocks: three levels. Entry 2 of the level-1 block at
/// level-2 slot 4 points back at the level-2 block (its grandparent), with
/// a checksum of the level-2 block's first 512 bytes (slots 0–3).
fn indirect_points_at_ancestor(level: u8) -> Vec<u8> {
    common::synthpool::with_fs_object(6, |w, dn| {
        let blocks: Vec<Option<Vec<u8>>> = (0..40)
            .map(|i| (!(8..32).contains(&i)).then(|| vec![i as u8 + 1; 1024]))
            .collect();
        let (tops, nlevels) = w.tree(&blocks, ot::PLAIN_FILE, 10, 1);
        assert_eq!(nlevels, 3);
        let l2 = tops[0];
        let l1 = w.child(&l2, 4);
        let first = w.get(l2.offset(), 512).to_vec();
        let back = common::synthpool::bp_for(l2.offset(), &first, ot::PLAIN_FILE, level, 1);
        let l1 = w.set_child(&l1, 2, &back);
        dn.blkptrs[0] = w.set_child(&l2, 4, &l1);
        dn.nlevels = 3;
        dn.indblkshift = 10;
        dn.maxblkid = 39;
        set_size(dn, 40 * 1024);
    })
}

/// A gang header at `off` whose first member is `member` (its embedded
/// SHA-256 uses the verifier of the DVA it is read through: vdev 0, `off`,
/// the birth txg).
fn gang_header(w: &mut Writer, off: u64, member: &Bp) {
    let mut hdr = vec![0u8; 512];
    hdr[..128].copy_from_slice(&member.bytes());
    hdr[472..480].copy_from_slice(&0x0210_da7a_b10c_7a11u64.to_le_bytes());
    for (i, v) in [0, off, common::synthpool::TXG, 0].iter().enumerate() {
        hdr[480 + 8 * i..488 + 8 * i].copy_from_slice(&v.to_le_bytes());
    }
    let d = Sha256::digest(&hdr);
    for i in 0..4 {
        let word = u64::from_be_bytes(d[8 * i..8 * i + 8].try_into().unwrap());
        hdr[480 + 8 * i..488 + 8 * i].copy_from_slice(&word.to_le_bytes());
    }
    w.put(off, &hdr);
}

/// A gang block pointer to the header at `off`.
fn gang_bp(off: u64) -> Bp {
    let mut bp = common::synthpool::bp_for(off, &[0u8; 512], ot::PLAIN_FILE, 0, 1).with_gang();
    bp.0[0] = 1; // asize: one sector (the header)
    bp
}

/// `/hello.txt` (object 4) stored as a gang block whose gang header's first
/// member is the gang block itself, or (`two`) a second gang block whose
/// header's member is the first. The headers' embedded checksums are right.
fn gang_loop(two: bool) -> Vec<u8> {
    common::synthpool::with_fs_object(4, |w, dn| {
        let a = w.reserve(512);
        if two {
            let b = w.reserve(512);
            gang_header(w, a, &gang_bp(b));
            gang_header(w, b, &gang_bp(a));
        } else {
            gang_header(w, a, &gang_bp(a));
        }
        dn.blkptrs[0] = gang_bp(a);
    })
}

#[test]
fn looping_block_trees_end_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str, &[&str])> = vec![
        (
            "indirect -> itself, level 1",
            indirect_points_at_itself(1),
            "/dir/big.bin",
            &["object 6 level 0 block 10", "level-1 block", "loops"],
        ),
        (
            "indirect -> itself, level 0",
            indirect_points_at_itself(0),
            "/dir/big.bin",
            &["object 6 level 0 block 10", "level-1 block", "loops"],
        ),
        (
            "indirect -> grandparent, level 2",
            indirect_points_at_ancestor(2),
            "/dir/big.bin",
            &["object 6 level 0 block 34", "level-2 block", "loops"],
        ),
        (
            "indirect -> grandparent, level 0",
            indirect_points_at_ancestor(0),
            "/dir/big.bin",
            &["object 6 level 0 block 34", "level-2 block", "loops"],
        ),
        (
            "gang header -> gang header -> first",
            gang_loop(true),
            "/hello.txt",
            &[
                "object 4 level 0 block 0",
                "gang header at byte offset 0x400800",
                "the gang tree loops",
            ],
        ),
        (
            "gang header -> itself",
            gang_loop(false),
            "/hello.txt",
            &[
                "object 4 level 0 block 0",
                "gang header at byte offset 0x400800",
                "the gang tree loops",
            ],
        ),
    ];
    for (what, img, path, needles) in cases {
        let img = common::synthpool::save(dir.path(), "tree.img", &img);
        let spec = format!("synth:{path}");
        let out = bounded_error(&format!("{what}: cat"), &["cat", &img, &spec], needles);
        println!("{}", out.lines().last().unwrap_or(""));
        let runs = walk_all(what, &img, dir.path());
        for o in &runs[2..] {
            assert!(o.code != 0, "{what}: accepted\n{}", o.out());
            for n in needles {
                assert!(o.out().contains(n), "{what}: no {n:?} in\n{}", o.out());
            }
        }
    }
}

// ---- DSL trees that loop ----

/// Replaces MOS object `obj` with a micro ZAP of type `dtype` holding `entries`.
fn mos_zap(spec: &Spec, obj: u64, dtype: u8, entries: &[(&str, u64)]) -> Vec<u8> {
    with_mos_object(spec, obj, |w, dn| {
        let z = common::synthpool::micro_zap(entries);
        *dn = common::synthpool::object(w, dtype, z.len() as u32, &z, 0, vec![]);
    })
}

/// Rewrites the u64 at `at` of MOS object `obj`'s bonus.
fn mos_bonus(spec: &Spec, edits: &[(u64, usize, u64)]) -> Vec<u8> {
    let mut hook = |_: &mut Writer, o: u64, dn: &mut Dn| {
        for (obj, at, v) in edits {
            if *obj == o {
                dn.bonus[*at..*at + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
    };
    spec.build_with(Hooks {
        fs: None,
        mos: Some(&mut hook),
    })
}

#[test]
fn looping_dsl_trees_end_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::default();
    // child-directory ZAPs that contain an ancestor (or the directory itself)
    let loops = [
        (
            "synth/home has child up = synth",
            mos_zap(
                &spec,
                mos::HOME_CHILD_MAP,
                ot::DSL_DIR_CHILD_MAP,
                &[("up", mos::ROOT_DIR)],
            ),
            "DSL directory 2 (synth/home/up)",
        ),
        (
            "synth has child self = synth",
            mos_zap(
                &spec,
                mos::ROOT_CHILD_MAP,
                ot::DSL_DIR_CHILD_MAP,
                &[("home", mos::HOME_DIR), ("self", mos::ROOT_DIR)],
            ),
            "DSL directory 2 (synth/self)",
        ),
    ];
    for (what, img, needle) in loops {
        let img = common::synthpool::save(dir.path(), "dsl.img", &img);
        let out = bounded_error(
            what,
            &["datasets", &img],
            &[needle, "already listed as synth: the dataset tree loops"],
        );
        assert!(out.contains("Dataset synth/home [ZPL]"), "{what}: {out}");
        let o = run(&["datasets", "--json", "--json-int", &img]);
        check_bounds(what, &o);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["datasets"].as_array().unwrap().len(), 3, "{what}");
        // the other commands find datasets through the same walk
        let o = ok(what, &["cat", &img, "synth/home:/readme"]);
        assert_eq!(o.stdout, b"child dataset\n");
        bounded_error(
            what,
            &["ls", &img, "synth/home/up/home:/"],
            &["no dataset named"],
        );
        bounded(what, &["manifest", "--json-int", &img, "synth"]);
    }
    // snapshot chains that loop: prev_snap of the snapshot is itself, and
    // head <-> snapshot; snapshot names that name the head itself
    let chains = [
        (
            "snapshot is its own previous snapshot",
            mos_bonus(&spec, &[(mos::SNAP_DS, 8, mos::SNAP_DS)]),
        ),
        (
            "head and snapshot are each other's previous",
            mos_bonus(
                &spec,
                &[
                    (mos::SNAP_DS, 8, mos::HEAD_DS),
                    (mos::SNAP_DS, 24, mos::HEAD_DS),
                ],
            ),
        ),
        (
            "snapshot names list the head",
            mos_zap(
                &spec,
                mos::HEAD_SNAPNAMES,
                ot::DSL_DS_SNAP_MAP,
                &[("s1", mos::SNAP_DS), ("self", mos::HEAD_DS)],
            ),
        ),
        (
            "snapshot names list a DSL directory",
            mos_zap(
                &spec,
                mos::HEAD_SNAPNAMES,
                ot::DSL_DS_SNAP_MAP,
                &[("s1", mos::SNAP_DS), ("dir", mos::ROOT_DIR)],
            ),
        ),
    ];
    let expect = [
        None,
        None,
        Some(
            "snapshot-name ZAP 5 (synth@self) at byte offset 0x41a800: names the head dataset 3 itself",
        ),
        Some("object's bonus has DMU type 12, not 16"),
    ];
    for ((what, img), problem) in chains.into_iter().zip(expect) {
        let img = common::synthpool::save(dir.path(), "snap.img", &img);
        let o = bounded(what, &["datasets", &img]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("Dataset synth@s1 [ZPL], ID 10,"),
            "{what}: {text}"
        );
        assert!(
            !text.contains("@self") && !text.contains("@dir"),
            "{what}: {text}"
        );
        match problem {
            None => assert_eq!(o.code, 0, "{what}: {}", o.out()),
            Some(p) => {
                assert_eq!(o.code, 1, "{what}: {}", o.out());
                assert!(o.stderr.contains(p), "{what}: {}", o.stderr);
            }
        }
        let o = bounded(what, &["manifest", "--json-int", &img, "synth@s1"]);
        assert_eq!(o.code, 0, "{what}: {}", o.out());
        let o = bounded(
            what,
            &["manifest", "--json-int", &img, "synth", "--against", "@s1"],
        );
        assert_eq!(o.code, 0, "{what}: {}", o.out());
    }
}

// ---- ZAPs that loop or claim too much ----

/// `/fat` (object 10) rebuilt from its two 4 KiB blocks after `edit`
/// changed them (block 0: header and embedded pointer table; block 1: the
/// leaf, whose chunks start at byte 304: entry "a" is chunk 0, its name
/// chunk 1, its value chunk 2; "b" is chunks 3–5).
fn fat_dir(edit: impl Fn(&mut Vec<Vec<u8>>)) -> Vec<u8> {
    common::synthpool::with_fs_object(10, |w, dn| {
        let mut blocks =
            common::synthpool::fat_zap(&[("a", (8 << 60) | 11), ("b", (8 << 60) | 12)], 4096);
        edit(&mut blocks);
        let data = blocks.concat();
        *dn = common::synthpool::object(w, ot::DIRECTORY, 4096, &data, ot::ZNODE, dn.bonus.clone());
    })
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// A fat ZAP for `/fat` whose external pointer table has 2^35 blocks
/// (zt_shift 44, ZAP_FLAG_HASH64) starting at block 4096, all of them
/// the same physical block full of valid leaf numbers: a DAG of 1 KiB
/// indirect blocks (8 pointers each, 12 levels) in which every pointer of
/// each level names the same block below, so that 2^35 block ids reach
/// one block. Every checksum verifies (a DAG has no cycle). With
/// `distinct_leaves`, the shared level-1 block points at eight different
/// table blocks, so the first block met twice is an indirect block.
fn fat_dir_shared_table(distinct_leaves: bool) -> Vec<u8> {
    common::synthpool::with_fs_object(10, |w, dn| {
        let mut blocks =
            common::synthpool::fat_zap(&[("a", (8 << 60) | 11), ("b", (8 << 60) | 12)], 4096);
        put64(&mut blocks[0], 16, 4096); // zt_blk
        put64(&mut blocks[0], 24, 1 << 35); // zt_numblks
        put64(&mut blocks[0], 32, 44); // zt_shift
        put64(&mut blocks[0], 96, 1); // ZAP_FLAG_HASH64
        let hdr = w.write(&blocks[0], ot::DIRECTORY, 0, 1);
        let leaf = w.write(&blocks[1], ot::DIRECTORY, 0, 1);
        let table: Vec<u8> = (0..512).flat_map(|_| 1u64.to_le_bytes()).collect();
        let tables: Vec<Bp> = (0..8)
            .map(|i| {
                if i == 0 || distinct_leaves {
                    w.write(&table, ot::DIRECTORY, 0, 1)
                } else {
                    Bp::HOLE
                }
            })
            .collect();
        let tables: Vec<Bp> = tables
            .iter()
            .map(|t| if t.is_hole() { tables[0] } else { *t })
            .collect();
        // left spine: blocks 0 and 1; shared subtrees: all table blocks
        let ind = |w: &mut Writer, kids: &[Bp], level: u8| -> Bp {
            let mut b = vec![0u8; 1024];
            for (i, k) in kids.iter().enumerate() {
                b[i * 128..i * 128 + 128].copy_from_slice(&k.bytes());
            }
            let fill = kids.iter().map(|k| k.fill()).sum();
            w.write(&b, ot::DIRECTORY, level, fill)
        };
        let mut spine = ind(w, &[hdr, leaf], 1);
        let mut shared = ind(w, &tables, 1);
        // levels 2..=4 hold 8^4 = 4096 blocks: the spine's first subtree
        for level in 2..=12u8 {
            if level == 5 {
                // from here on, slot 0 holds blocks 0..4095 and slots 1.. the table
                let mut kids = vec![spine];
                kids.extend([shared; 7]);
                spine = ind(w, &kids, level);
            } else if level < 5 {
                spine = ind(w, &[spine], level);
            } else {
                spine = ind(
                    w,
                    &[
                        spine, shared, shared, shared, shared, shared, shared, shared,
                    ],
                    level,
                );
            }
            shared = ind(w, &[shared; 8], level);
        }
        dn.blkptrs = vec![spine];
        dn.nlevels = 13;
        dn.indblkshift = 10;
        dn.datablksz = 4096;
        dn.maxblkid = (1u64 << 36) - 1;
    })
}

#[test]
fn hostile_zaps_end_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "leaf name chain loops on itself",
            fat_dir(|b| {
                put16(&mut b[1], 304 + 24 + 22, 1); // name chunk 1 -> 1
                put16(&mut b[1], 304 + 6, 200); // a 200-byte name
            }),
            &[
                "ZAP object 10 leaf block 1",
                "array chain loops back to chunk 1",
            ],
        ),
        (
            "leaf name chain loops through two chunks",
            fat_dir(|b| {
                put16(&mut b[1], 304 + 24 + 22, 4); // name chunk 1 -> 4 ("b")
                put16(&mut b[1], 304 + 4 * 24 + 22, 1); // 4 -> 1
                put16(&mut b[1], 304 + 6, 60); // needs three chunks
            }),
            &[
                "ZAP object 10 leaf block 1",
                "array chain loops back to chunk 1",
            ],
        ),
        (
            "pointer table points at the header",
            fat_dir(|b| put64(&mut b[0], 2048, 0)),
            &["ZAP object 10 pointer table", "points at block 0 of 2"],
        ),
        (
            "pointer table of 2^36 blocks in a 2-block object",
            fat_dir(|b| {
                put64(&mut b[0], 16, 1);
                put64(&mut b[0], 24, 1 << 36);
                put64(&mut b[0], 32, 45);
                put64(&mut b[0], 96, 1);
            }),
            &[
                "ZAP object 10 pointer table",
                "run past the object's 2 blocks",
            ],
        ),
        (
            "pointer table of 2^50 entries",
            fat_dir(|b| {
                put64(&mut b[0], 24, 1 << 41);
                put64(&mut b[0], 32, 50);
            }),
            &[
                "ZAP object 10 pointer table",
                "for 2^50 entries (at most 2^28)",
            ],
        ),
        (
            "pointer table of 2^35 blocks that are one block",
            fat_dir_shared_table(false),
            &[
                "ZAP object 10 pointer table",
                "block 4097 is the same block as block 4096",
            ],
        ),
        (
            "pointer table of 2^35 blocks under one indirect block",
            fat_dir_shared_table(true),
            &[
                "object 10 level 1 block 513",
                "is also the level-1 block 512 of this object: the block tree is not a tree",
            ],
        ),
    ];
    for (what, img, needles) in cases {
        let img = common::synthpool::save(dir.path(), "zap.img", &img);
        bounded_error(&format!("{what}: ls"), &["ls", &img, "synth:/fat"], needles);
        bounded_error(
            &format!("{what}: cat"),
            &["cat", &img, "synth:/fat/a"],
            needles,
        );
        let runs = walk_all(what, &img, dir.path());
        for o in &runs[2..] {
            assert_eq!(o.code, 1, "{what}: {}", o.out());
            for n in needles {
                assert!(o.out().contains(n), "{what}: no {n:?} in\n{}", o.out());
            }
        }
    }
}

// ---- absurd sizes ----

/// `/hello.txt` (object 4) claiming `size` bytes: its one data block is
/// block 0, under a chain of 16 KiB indirect blocks `nlevels` high (all
/// other pointers holes) and `maxblkid` as given.
fn sparse_hello(size: u64, maxblkid: u64, nlevels: u8) -> Vec<u8> {
    common::synthpool::with_fs_object(4, |w, dn| {
        let mut top = dn.blkptrs[0];
        for level in 1..nlevels {
            let mut b = vec![0u8; 16 << 10];
            b[..128].copy_from_slice(&top.bytes());
            top = w.write(&b, ot::PLAIN_FILE, level, 1);
        }
        dn.blkptrs = vec![top];
        dn.nlevels = nlevels;
        dn.indblkshift = 14;
        dn.maxblkid = maxblkid;
        set_size(dn, size);
    })
}

#[test]
fn absurd_sizes_end_in_errors_or_stream_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // a dnode whose data block size is beyond ZFS's 16 MiB (the largest
    // datablkszsec can say: 65535 sectors) on a micro-ZAP directory
    let img = common::synthpool::with_fs_object(5, |_, dn| dn.datablksz = 0xffff * 512);
    let img = common::synthpool::save(dir.path(), "bigzap.img", &img);
    let needles: &[&str] = &[
        "dnode of object 5",
        "data block size 33553920 exceeds ZFS's largest block (16777216 bytes)",
    ];
    bounded_error(
        "micro ZAP of 32 MiB: ls",
        &["ls", &img, "synth:/dir"],
        needles,
    );
    for o in &walk_all("micro ZAP of 32 MiB", &img, dir.path())[2..] {
        assert_eq!(o.code, 1, "{}", o.out());
        assert!(o.out().contains(needles[1]), "{}", o.out());
    }
    // 16 MiB is allowed (large_microzap): read in bounded memory
    let img = common::synthpool::with_fs_object(5, |_, dn| dn.datablksz = 16 << 20);
    let img = common::synthpool::save(dir.path(), "zap16.img", &img);
    let o = ok("micro ZAP of 16 MiB: ls", &["ls", &img, "synth:/dir"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("big.bin"));

    // maxblkid 2^62 of 512-byte blocks: 2^71 bytes
    let img = sparse_hello(1 << 62, 1 << 62, 1);
    let img = common::synthpool::save(dir.path(), "maxblkid.img", &img);
    let needles: &[&str] = &[
        "dnode of object 4",
        "maxblkid 4611686018427387904 of 512-byte blocks reaches past the 2^64 bytes",
    ];
    bounded_error(
        "maxblkid 2^62: cat",
        &["cat", &img, "synth:/hello.txt"],
        needles,
    );
    for o in &walk_all("maxblkid 2^62", &img, dir.path())[2..] {
        assert_eq!(o.code, 1, "{}", o.out());
        assert!(o.out().contains(needles[1]), "{}", o.out());
    }

    // a 2^50-byte (1 PiB) sparse file: 2^41 blocks of 512 bytes under seven
    // levels of indirect blocks, one block allocated
    let size = 1u64 << 50;
    let img = sparse_hello(size, (1 << 41) - 1, 7);
    let img = common::synthpool::save(dir.path(), "sparse.img", &img);
    let o = ok("1 PiB sparse file: ls", &["ls", &img, "synth:/"]);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains(" 1125899906842624 2023-11-14 22:13:20.000000000 +0000 hello.txt"),
        "{}",
        o.out()
    );
    // a claim beyond --max-file-size (64 GiB by default) is refused by cat,
    // left unhashed by manifest and out of a tar archive (issue 12)
    bounded_error(
        "1 PiB sparse file: cat",
        &["cat", &img, "synth:/hello.txt"],
        &["claims 1125899906842624 bytes, more than --max-file-size 68719476736"],
    );
    let o = bounded(
        "1 PiB sparse file: manifest",
        &["manifest", "--json-int", &img, "synth"],
    );
    assert_eq!(o.code, 1, "{}", o.out());
    assert!(
        o.out().contains(
            "claimed size 1125899906842624 exceeds --max-file-size 68719476736: not hashed"
        ),
        "{}",
        o.out()
    );
    let tar = dir.path().join("sparse.tar");
    let o = bounded(
        "1 PiB sparse file: export --tar",
        &["export", &img, "synth", "--tar", tar.to_str().unwrap()],
    );
    assert_eq!(o.code, 1, "{}", o.out());
    assert!(o.stderr.contains("contents not archived"), "{}", o.stderr);
    // raised, cat streams it (holes as zeros) until the reader of its output stops
    let o = run_limited(
        &["cat", &img, "synth:/hello.txt", "--max-file-size", "8E"],
        Some(32 << 20),
    );
    check_bounds("1 PiB sparse file: cat | head -c 32M", &o);
    assert_eq!(o.code, -libc::SIGPIPE, "{}", o.out());
    assert!(o.stdout.starts_with(b"hello, synthetic pool\n\0\0"));
    assert!(o.stdout.len() >= 32 << 20 && o.stdout[22..].iter().all(|&b| b == 0));
    let o = run_limited(
        &[
            "export",
            &img,
            "synth",
            "--tar",
            "-",
            "--max-file-size",
            "8E",
        ],
        Some(32 << 20),
    );
    check_bounds("1 PiB sparse file: export --tar - | head -c 32M", &o);
    assert_eq!(o.code, -libc::SIGPIPE, "{}", o.out());
    // export --to keeps the holes: bounded by the data, not the size
    let out = dir.path().join("sparse-export");
    let o = bounded(
        "1 PiB sparse file: export --to",
        &["export", &img, "synth", "--to", out.to_str().unwrap()],
    );
    let f = out.join("hello.txt");
    if o.code == 0 {
        let m = std::fs::metadata(&f).unwrap();
        assert_eq!(m.len(), size);
        assert!(
            std::os::unix::fs::MetadataExt::blocks(&m) < 1024,
            "not sparse"
        );
        let mut head = [0u8; 22];
        std::io::Read::read_exact(&mut std::fs::File::open(&f).unwrap(), &mut head).unwrap();
        assert_eq!(&head, b"hello, synthetic pool\n");
    } else {
        // the destination file system cannot hold a file that large
        assert_eq!(o.code, 1, "{}", o.out());
        assert!(
            o.stderr
                .contains("/hello.txt: cannot make it 1125899906842624 bytes long here"),
            "{}",
            o.stderr
        );
    }
    assert_eq!(
        std::fs::read(out.join("dir/big.bin")).unwrap(),
        common::synthpool::big_bytes()
    );
}

/// Holes at every level are skipped, not mis-skipped: a file of 40001
/// blocks of 512 bytes with data in blocks 0, 5, 300 and 40000 only (four
/// levels: holes at levels 0, 1 and 2) reads back byte for byte through
/// `cat`, `manifest` and `export --to` (which leaves the holes unwritten).
#[test]
fn sparse_files_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = vec![0u8; 40001 * 512];
    for (b, fill) in [(0usize, 0x11u8), (5, 0x55), (300, 0x33), (40000, 0x77)] {
        data[b * 512..b * 512 + 512].fill(fill);
    }
    data.truncate(40000 * 512 + 100);
    let mut spec = Spec::default();
    spec.fs.objects.insert(4, Node::File(data.clone(), 512));
    let img = common::synthpool::save(dir.path(), "sparse.img", &spec.build());
    let o = ok("sparse: cat", &["cat", &img, "synth:/hello.txt"]);
    assert!(o.stdout == data, "cat differs");
    let o = ok(
        "sparse: manifest",
        &["manifest", "--json-int", &img, "synth"],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let e = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/hello.txt")
        .unwrap();
    assert_eq!(
        e["sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(&data))
    );
    let out = dir.path().join("x");
    ok(
        "sparse: export --to",
        &["export", &img, "synth", "--to", out.to_str().unwrap()],
    );
    let f = out.join("hello.txt");
    assert!(std::fs::read(&f).unwrap() == data, "export differs");
    let blocks = std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(&f).unwrap());
    assert!(blocks <= 64, "{blocks} sectors allocated for 2 KiB of data");
    let tar = dir.path().join("x.tar");
    ok(
        "sparse: export --tar",
        &["export", &img, "synth", "--tar", tar.to_str().unwrap()],
    );
}

/// A directory of 2000 names for one 2 MiB file (4 GB if every name were
/// copied): `export` writes the bytes once and links the other names, as
/// `cp -a` and tar do; `manifest` hashes the object once.
#[test]
fn many_names_for_one_file_are_exported_once() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..2u32 << 20).map(|i| (i % 251) as u8 + 1).collect();
    let mut spec = Spec::default();
    let names: Vec<(String, u64)> = (0..2000).map(|i| (format!("n{i:04}"), 13)).collect();
    spec.fs.objects.insert(ROOT, Node::Dir(names));
    spec.fs
        .objects
        .insert(13, Node::File(data.clone(), 128 << 10));
    let img = common::synthpool::save(dir.path(), "names.img", &spec.build());
    let out = dir.path().join("x");
    let o = ok(
        "2000 names: export --to",
        &["export", &img, "synth", "--to", out.to_str().unwrap()],
    );
    assert!(
        o.stderr.contains("exported 2001 paths, 0 problems"),
        "{}",
        o.stderr
    );
    let first = std::fs::metadata(out.join("n0000")).unwrap();
    let last = std::fs::metadata(out.join("n1999")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((first.ino(), first.nlink()), (last.ino(), 2000));
    assert!(std::fs::read(out.join("n1234")).unwrap() == data);
    let tar = dir.path().join("x.tar");
    ok(
        "2000 names: export --tar",
        &["export", &img, "synth", "--tar", tar.to_str().unwrap()],
    );
    let len = std::fs::metadata(&tar).unwrap().len();
    assert!(len < 4 << 20, "tar of {len} bytes");
    let mut ar = tar::Archive::new(std::fs::File::open(&tar).unwrap());
    let kinds: Vec<tar::EntryType> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().header().entry_type())
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == tar::EntryType::Regular)
            .count(),
        1
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == tar::EntryType::Link).count(),
        1999
    );
    let o = ok(
        "2000 names: manifest",
        &["manifest", "--json-int", &img, "synth"],
    );
    assert_eq!(manifest_paths(&o.stdout).len(), 2001);
}
