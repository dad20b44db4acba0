//! `kzrescue label` / `kzrescue uberblocks` against the oracle, `zdb` 2.1:
//! live on every OpenZFS test-suite pool image (Debian `zfs-test`), and on
//! every committed fixture that carries zdb's own output as golden files.
//!
//! For every image: the text output, minus kzrescue's own extra lines, is
//! identical to zdb's line for line; every key and value of every label zdb
//! prints equals kzrescue's JSON for that label and for each label zdb groups
//! with it; the label groups agree; every uberblock zdb prints has the same
//! fields in kzrescue's JSON; and kzrescue's active uberblock is zdb's newest
//! one (txg, timestamp, guid_sum).

mod common;

use common::label::*;
use serde_json::Value;
use std::path::Path;

/// Counts of what was compared.
#[derive(Default, Debug)]
struct Tally {
    images: usize,
    text_identical: usize,
    label_fields: usize,
    labels_compared: usize,
    uber_fields: usize,
    active_agree: usize,
}

/// A target: the image and, for a disk, the slice (`--slice N`).
struct Target<'a> {
    img: &'a Path,
    slice: Option<u32>,
}

impl Target<'_> {
    fn args<'b>(&'b self, cmd: &'b str, extra: &[&'b str], slice: &'b str) -> Vec<&'b str> {
        let mut v = vec![cmd, self.img.to_str().unwrap()];
        if self.slice.is_some() {
            v.extend(["--slice", slice]);
        }
        v.extend(extra);
        v
    }
    fn run(&self, cmd: &str, extra: &[&str]) -> (i32, String, String) {
        let slice = self.slice.map(|n| n.to_string()).unwrap_or_default();
        common::kzrescue(&self.args(cmd, extra, &slice))
    }
}

fn run_json(cmd: &str, t: &Target) -> (i32, Value) {
    let (code, out, err) = t.run(cmd, &["--json", "--json-int"]);
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("{cmd} --json {}: {e}\n{out}\n{err}", t.img.display()));
    (code, v)
}

/// Compares kzrescue with zdb output `zl` (`zdb -l`) and `zu` (`zdb -lu`)
/// for the image `img`; adds to `t`.
fn compare_image(tg: &Target, zl: &str, zu: &str, t: &mut Tally) {
    let name = format!("{} slice {:?}", tg.img.display(), tg.slice);
    // 1. Text, line for line.
    for (cmd, z) in [("label", zl), ("uberblocks", zu)] {
        let (_, out, err) = tg.run(cmd, &[]);
        // stdout is zdb's; stderr only warns about what is wrong (issue 12)
        assert!(
            err.lines().all(|l| l.starts_with("kzrescue: warning:")),
            "{cmd} {name}: stderr {err}"
        );
        let ours = strip_extras(&out);
        if ours != z {
            let d: Vec<String> = ours
                .lines()
                .zip(z.lines())
                .filter(|(a, b)| a != b)
                .take(3)
                .map(|(a, b)| format!("ours {a:?} zdb {b:?}"))
                .collect();
            panic!("{cmd} {name}: text differs from zdb: {d:?}");
        }
        t.text_identical += 1;
    }
    // 2. Every label zdb prints, field for field.
    let (_, lj) = run_json("label", tg);
    assert_eq!(lj["schema"], "kzrescue.label/2");
    let zp = parse_zdb(zl);
    let labels = lj["labels"].as_array().unwrap();
    let mut ours_groups: Vec<Vec<usize>> = serde_json::from_value(lj["groups"].clone()).unwrap();
    ours_groups.sort();
    let mut zdb_groups: Vec<Vec<usize>> = zp.labels.iter().map(|l| l.group.clone()).collect();
    zdb_groups.sort();
    assert_eq!(ours_groups, zdb_groups, "{name}: label groups");
    for zlab in &zp.labels {
        assert!(!zlab.fields.is_empty(), "{name}: empty zdb label");
        for &member in &zlab.group {
            let cfg = &labels[member]["config"];
            assert!(cfg.is_object(), "{name}: label {member} has no config");
            let ours = flatten_json(cfg);
            assert_eq!(
                ours.keys().collect::<Vec<_>>(),
                zlab.fields.keys().collect::<Vec<_>>(),
                "{name}: label {member} keys"
            );
            for (k, v) in &zlab.fields {
                assert_eq!(&ours[k], v, "{name}: label {member} {k}");
                t.label_fields += 1;
            }
            t.labels_compared += 1;
        }
    }
    for &f in &zp.unpack_failed {
        assert!(
            labels[f]["config"].is_null(),
            "{name}: label {f} decodes but zdb failed"
        );
    }
    // 3. Uberblocks.
    let (_, uj) = run_json("uberblocks", tg);
    assert_eq!(uj["schema"], "kzrescue.uberblocks/2");
    let zup = parse_zdb(zu);
    for zub in &zup.ubers {
        for &m in &zub.group {
            let slots = uj["labels"][m]["uberblocks"].as_array().unwrap();
            let s = slots
                .iter()
                .find(|s| s["slot"] == zub.slot)
                .unwrap_or_else(|| panic!("{name}: label {m} slot {} missing", zub.slot));
            for (k, zv) in &zub.fields {
                let ours = match k.as_str() {
                    "magic" => format!("{:016x}", s["magic"].as_u64().unwrap()),
                    "mmp_magic" => format!("{:016x}", s["mmp"]["magic"].as_u64().unwrap()),
                    "timestamp" => format!(
                        "{} UTC = {}",
                        s["timestamp"],
                        s["timestamp_utc"].as_str().unwrap()
                    ),
                    "mmp_delay" => s["mmp"]["delay"].to_string(),
                    "mmp_seq" => s["mmp"]["seq"].to_string(),
                    "mmp_fail" => s["mmp"]["fail_intervals"].to_string(),
                    "mmp_write" => s["mmp"]["write_interval_ms"].to_string(),
                    "mmp_valid" => format!("{:x}", s["mmp"]["config"].as_u64().unwrap() & 0xff),
                    other => s[other].to_string(),
                };
                assert_eq!(&ours, zv, "{name}: label {m} slot {} {k}", zub.slot);
                t.uber_fields += 1;
            }
        }
    }
    // The active uberblock: zdb's newest (txg, then timestamp); txg 0 is
    // "no uberblock" to ZFS (a hot spare's ring holds one).
    let newest = zup
        .ubers
        .iter()
        .filter(|u| u.fields["txg"] != "0")
        .max_by_key(|u| {
            (
                u.fields["txg"].parse::<u64>().unwrap(),
                u.fields["timestamp"]
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
            )
        });
    match newest {
        None => assert!(
            uj["active"].is_null(),
            "{name}: active without zdb uberblocks"
        ),
        Some(z) => {
            let a = &uj["active"];
            assert_eq!(a["txg"].to_string(), z.fields["txg"], "{name}: active txg");
            assert_eq!(
                a["guid_sum"].to_string(),
                z.fields["guid_sum"],
                "{name}: guid_sum"
            );
            assert!(
                z.fields["timestamp"].starts_with(&format!("{} ", a["timestamp"])),
                "{name}: active timestamp"
            );
            t.active_agree += 1;
        }
    }
    t.images += 1;
}

#[test]
fn label_and_uberblocks_agree_with_live_zdb_on_zfs_test_images() {
    let test = "label_and_uberblocks_agree_with_live_zdb_on_zfs_test_images";
    let Some(images) = zfs_test_images(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut t = Tally::default();
    for bz in &images {
        let img = bunzip(bz, dir.path());
        let (_, zl) = zdb("-l", &img);
        let (_, zu) = zdb("-lu", &img);
        compare_image(
            &Target {
                img: &img,
                slice: None,
            },
            &zl,
            &zu,
            &mut t,
        );
        std::fs::remove_file(&img).unwrap();
    }
    println!("AGREEMENT zfs-test images: {t:?}");
    assert_eq!(t.images, images.len());
    assert!(t.images >= 50, "expected the ~55 zfs-test images");
}

/// A committed fixture with zdb goldens: `testimages/<image>.zst` and either
/// `<image>.zdb-l.txt` (a whole-device vdev) or `<image>.s<N>.zdb-l.txt` (the
/// vdev in slice N of a disk, whose byte range `testimages/SLICES` gives),
/// each with the matching `.zdb-lu.txt`; captured from zdb 2.1 in UTC.
struct Fixture {
    image: String,
    slice: Option<(u32, u64, u64)>,
    golden: String,
}

fn fixtures_with_goldens() -> Vec<Fixture> {
    let dir = common::root().join("testimages");
    let slices = std::fs::read_to_string(dir.join("SLICES")).unwrap_or_default();
    let mut v: Vec<Fixture> = std::fs::read_dir(&dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let golden = n.strip_suffix(".zdb-l.txt")?.to_string();
                    if dir.join(format!("{golden}.zst")).exists() {
                        return Some(Fixture {
                            image: golden.clone(),
                            slice: None,
                            golden,
                        });
                    }
                    let (image, s) = golden.rsplit_once('.')?;
                    let (image, s) = (image.to_string(), s.to_string());
                    let n: u32 = s.strip_prefix('s')?.parse().ok()?;
                    let line = slices.lines().find(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        f.len() == 4 && f[0] == image && f[1] == s.as_str()
                    })?;
                    let f: Vec<u64> = line
                        .split_whitespace()
                        .skip(2)
                        .map(|x| x.parse().unwrap())
                        .collect();
                    dir.join(format!("{image}.zst")).exists().then(|| Fixture {
                        image: image.clone(),
                        slice: Some((n, f[0], f[1])),
                        golden,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_by(|a, b| a.golden.cmp(&b.golden));
    v
}

#[test]
fn label_and_uberblocks_agree_with_committed_zdb_goldens() {
    let fixtures = fixtures_with_goldens();
    let dir = tempfile::tempdir().unwrap();
    let live = common::require_tool("zdb", "zfsutils-linux", "golden zdb re-check");
    let root = common::root().join("testimages");
    let mut t = Tally::default();
    for f in &fixtures {
        let img = common::unpack_fixture(&f.image, dir.path());
        let zl = std::fs::read_to_string(root.join(format!("{}.zdb-l.txt", f.golden))).unwrap();
        let zu = std::fs::read_to_string(root.join(format!("{}.zdb-lu.txt", f.golden))).unwrap();
        if live {
            // The goldens must still be what zdb prints (on the slice's bytes).
            let vdev = match f.slice {
                None => img.clone(),
                Some((_, start, len)) => {
                    let data = std::fs::read(&img).unwrap();
                    let p = dir.path().join("slice.img");
                    std::fs::write(&p, &data[start as usize..(start + len) as usize]).unwrap();
                    p
                }
            };
            assert_eq!(
                zdb("-l", &vdev).1,
                zl,
                "{}: golden zdb -l is stale",
                f.golden
            );
            assert_eq!(
                zdb("-lu", &vdev).1,
                zu,
                "{}: golden zdb -lu is stale",
                f.golden
            );
        }
        let tg = Target {
            img: &img,
            slice: f.slice.map(|s| s.0),
        };
        compare_image(&tg, &zl, &zu, &mut t);
        std::fs::remove_file(&img).unwrap();
    }
    println!(
        "AGREEMENT committed fixtures ({} vdevs, live zdb: {live}): {t:?}",
        fixtures.len()
    );
    assert_eq!(t.images, fixtures.len());
    assert!(
        fixtures.len() >= 6,
        "expected the committed pool fixtures with zdb goldens"
    );
}
