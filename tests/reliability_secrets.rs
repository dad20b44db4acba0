//! Key hygiene (SECURITY.md): after `hostdata init` makes a key, neither the
//! key's hex (either case) nor its raw bytes appear in anything kzrescue
//! prints — text, JSON or error output of init, show, check, takeover and
//! diagnose, with the right key and a wrong one — nor in the undo journal;
//! and every file we create that can hold secrets or old disk bytes (key
//! file, the `.old` key kept by `--force`, undo journals) has mode 0600.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn key_hex(keyfile: &Path) -> String {
    let text = std::fs::read_to_string(keyfile).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("aes-128-ccm "))
        .expect("key line");
    line["aes-128-ccm ".len()..].trim().to_string()
}

fn assert_clean(what: &str, out: &[u8], hex: &str) {
    let raw = hex::decode(hex).unwrap();
    let text = String::from_utf8_lossy(out);
    assert!(
        !text.contains(&hex.to_lowercase()),
        "{what}: key hex in output"
    );
    assert!(
        !text.contains(&hex.to_uppercase()),
        "{what}: key HEX in output"
    );
    assert!(
        !out.windows(raw.len()).any(|w| w == raw.as_slice()),
        "{what}: raw key bytes in output"
    );
}

fn run(args: &[&str]) -> Vec<u8> {
    let o = std::process::Command::new(common::kzrescue_bin())
        .args(args)
        .output()
        .unwrap();
    let mut all = o.stdout;
    all.extend_from_slice(&o.stderr);
    all
}

#[test]
fn keys_never_reach_output_json_errors_or_journals_and_files_are_0600() {
    let dir = tempfile::tempdir().unwrap();
    let img = common::unpack_fixture("demo-kz1.img", dir.path());
    let img_s = img.to_string_lossy().into_owned();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let key = keys.join("demo-kz1");
    let key_s = key.to_string_lossy().into_owned();
    let j1 = dir.path().join("init.undo");
    let out = run(&[
        "hostdata",
        "init",
        &img_s,
        "--zone",
        "demo-kz1",
        "--key-out",
        &key_s,
        "--hostid",
        "2b2044c5",
        "--hostname",
        "global1",
        "--write",
        "--journal",
        &j1.to_string_lossy(),
        "--liveness-interval",
        "0",
    ]);
    assert!(
        key.exists(),
        "init wrote no key: {}",
        String::from_utf8_lossy(&out)
    );
    let hex = key_hex(&key);
    assert_eq!(hex.len(), 32);
    assert_clean("init", &out, &hex);
    assert_eq!(mode(&key), 0o600, "key file mode");
    assert_eq!(mode(&j1), 0o600, "init journal mode");
    assert_clean("init journal", &std::fs::read(&j1).unwrap(), &hex);

    // a second init with --force keeps the old key as FILE.old, also 0600
    let j2 = dir.path().join("init2.undo");
    let out2 = run(&[
        "hostdata",
        "init",
        &img_s,
        "--zone",
        "demo-kz1",
        "--key-out",
        &key_s,
        "--force",
        "--write",
        "--journal",
        &j2.to_string_lossy(),
        "--liveness-interval",
        "0",
    ]);
    let old = keys.join("demo-kz1.old");
    assert!(old.exists(), "{}", String::from_utf8_lossy(&out2));
    assert_eq!(mode(&old), 0o600, "old key file mode");
    assert_eq!(mode(&key), 0o600, "replaced key file mode");
    assert_eq!(mode(&j2), 0o600, "second journal mode");
    let hex2 = key_hex(&key);
    assert_ne!(hex, hex2);
    for h in [&hex, &hex2] {
        assert_clean("init --force", &out2, h);
        assert_clean("init2 journal", &std::fs::read(&j2).unwrap(), h);
    }

    // every reading command, text and JSON, with the right and the wrong key
    let cfg = dir.path().join("demo-kz1.cfg");
    std::fs::copy(common::root().join("testimages/demo-kz1.cfg"), &cfg).unwrap();
    let cfg_s = cfg.to_string_lossy().into_owned();
    let keys_s = keys.to_string_lossy().into_owned();
    let map = format!("dev:/dev/zvol/dsk/rpool/VARSHARE/zones/demo-kz1/disk0={img_s}");
    let old_s = old.to_string_lossy().into_owned();
    let mut runs = 0;
    for k in [&key_s, &old_s] {
        for json in [false, true] {
            let mut cmds: Vec<Vec<&str>> = vec![
                vec!["hostdata", "show", &img_s, "--key", k],
                vec!["hostdata", "check", &img_s, "--key", k],
                vec!["hostdata", "check", &img_s, "--key", k, "--hostid", "1234"],
                vec![
                    "diagnose",
                    "--zone-config",
                    &cfg_s,
                    "--zone",
                    "demo-kz1",
                    "--keys",
                    &keys_s,
                    "--map",
                    &map,
                    "--liveness-interval",
                    "0",
                ],
            ];
            if json {
                for c in &mut cmds {
                    c.push("--json");
                }
            }
            for c in &cmds {
                let out = run(c);
                if k == &key_s && c[1] == "show" {
                    let t = String::from_utf8_lossy(&out);
                    assert!(
                        t.contains("demo-kz1"),
                        "show with the right key decrypts: {t}"
                    );
                }
                for h in [&hex, &hex2] {
                    assert_clean(&format!("{c:?}"), &out, h);
                }
                runs += 1;
            }
        }
    }
    // takeover (a write) and its journal
    let j3 = dir.path().join("takeover.undo");
    let out = run(&[
        "hostdata",
        "takeover",
        &img_s,
        "--key",
        &key_s,
        "--hostid",
        "1",
        "--hostname",
        "x",
        "--write",
        "--journal",
        &j3.to_string_lossy(),
        "--liveness-interval",
        "0",
    ]);
    assert!(j3.exists(), "{}", String::from_utf8_lossy(&out));
    assert_eq!(mode(&j3), 0o600, "takeover journal mode");
    for h in [&hex, &hex2] {
        assert_clean("takeover", &out, h);
        assert_clean("takeover journal", &std::fs::read(&j3).unwrap(), h);
    }
    println!("{runs} reading runs + 3 writes: no key material in any output or journal");
}
