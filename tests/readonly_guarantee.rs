//! The read-only guarantee: every command that does not write, run on every
//! committed fixture, leaves the image byte-identical with the same mtime —
//! and never even opens it for writing.
//!
//! The second part is checked by making each image immutable
//! (`chattr +i`): the kernel then refuses an open for writing with EPERM even
//! to root, so a read command that opened its target read-write would fail
//! with "Operation not permitted" here. Where the file system has no
//! immutable flag, a read-only tmpfs mount gives the same guarantee (EROFS).

mod common;

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// How the images are protected against opening for writing.
enum Guard {
    Immutable(Vec<PathBuf>),
    ReadOnlyMount(PathBuf),
}

impl Drop for Guard {
    fn drop(&mut self) {
        match self {
            Guard::Immutable(files) => {
                for f in files {
                    let _ = Command::new("chattr").arg("-i").arg(f).status();
                }
            }
            Guard::ReadOnlyMount(dir) => {
                let _ = Command::new("umount").arg(dir).status();
            }
        }
    }
}

fn quiet(cmd: &mut Command) -> bool {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Makes the files in `dir` impossible to open for writing. Returns the guard
/// and the directory the files are now in.
fn protect(dir: &Path, files: &[PathBuf]) -> Option<(Guard, PathBuf)> {
    let all_immutable = files
        .iter()
        .all(|f| quiet(Command::new("chattr").arg("+i").arg(f)));
    if all_immutable {
        // Prove the guard works: an open for writing must now fail.
        let refused = files.iter().all(|f| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(f)
                .is_err()
        });
        if refused {
            return Some((Guard::Immutable(files.to_vec()), dir.to_path_buf()));
        }
    }
    for f in files {
        let _ = quiet(Command::new("chattr").arg("-i").arg(f));
    }
    // Fallback: a tmpfs, filled, then remounted read-only.
    let mnt = dir.join("ro");
    std::fs::create_dir_all(&mnt).ok()?;
    if !quiet(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2g", "tmpfs"])
            .arg(&mnt),
    ) {
        return None;
    }
    for f in files {
        std::fs::copy(f, mnt.join(f.file_name()?)).ok()?;
    }
    if !quiet(Command::new("mount").args(["-o", "remount,ro"]).arg(&mnt)) {
        let _ = quiet(Command::new("umount").arg(&mnt));
        return None;
    }
    Some((Guard::ReadOnlyMount(mnt.clone()), mnt))
}

fn fingerprint(p: &Path) -> (Vec<u8>, std::time::SystemTime) {
    let bytes = std::fs::read(p).unwrap();
    let mtime = std::fs::metadata(p).unwrap().modified().unwrap();
    (Sha256::digest(&bytes).to_vec(), mtime)
}

#[test]
fn read_commands_never_write_or_open_for_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut images: Vec<PathBuf> = std::fs::read_dir(common::root().join("testimages"))
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".zst")
                .filter(|n| n.ends_with(".img"))
                .map(|n| common::unpack_fixture(n, tmp.path()))
        })
        .collect();
    images.sort();
    assert!(images.len() >= 5, "too few fixtures: {images:?}");

    // A zone configuration naming the first GPT pool disk, for diagnose.
    let cfg = tmp.path().join("kz.cfg");
    std::fs::write(
        &cfg,
        "create -b\nset brand=solaris-kz\nadd device\nset storage=dev:zvol/dsk/rpool/kz\nset bootpri=0\nset id=0\nend\n",
    )
    .unwrap();

    let Some((guard, dir)) = protect(tmp.path(), &images) else {
        if common::in_ci() {
            panic!(
                "cannot make the fixtures immutable (chattr, e2fsprogs) nor mount a read-only tmpfs"
            );
        }
        println!(
            "SKIPPED read_commands_never_write_or_open_for_writing: neither `chattr +i` (Debian package e2fsprogs) nor a read-only tmpfs mount works here"
        );
        return;
    };
    let images: Vec<PathBuf> = images
        .iter()
        .map(|p| dir.join(p.file_name().unwrap()))
        .collect();
    let before: Vec<_> = images.iter().map(|p| fingerprint(p)).collect();

    let mut runs = 0;
    for img in &images {
        let i = img.display().to_string();
        let map = format!("dev:zvol/dsk/rpool/kz={i}");
        let c = cfg.display().to_string();
        let commands: Vec<Vec<&str>> = vec![
            vec!["partitions", &i],
            vec!["partitions", &i, "--json", "--json-int"],
            vec!["label", &i],
            vec!["label", &i, "--json", "--json-int"],
            vec!["uberblocks", &i],
            vec!["uberblocks", &i, "--json", "--json-int"],
            vec!["physpath", &i],
            vec![
                "physpath",
                "set",
                &i,
                "--device-id",
                "0",
                "--dry-run",
                "--liveness-interval",
                "0",
            ],
            vec![
                "physpath",
                "set",
                &i,
                "--device-id",
                "0",
                "--liveness-interval",
                "0",
            ],
            vec!["hostdata", "check", &i],
            vec!["datasets", &i],
            vec![
                "diagnose",
                "--zone-config",
                &c,
                "--zone",
                "kz",
                "--map",
                &map,
                "--liveness-interval",
                "0.1",
            ],
            vec![
                "repair",
                "--zone-config",
                &c,
                "--zone",
                "kz",
                "--map",
                &map,
                "--liveness-interval",
                "0.1",
                "--dry-run",
            ],
        ];
        for args in commands {
            let (code, out, err) = common::kzrescue(&args);
            runs += 1;
            assert!(
                !err.contains("Operation not permitted") && !err.contains("Read-only file system"),
                "kzrescue {args:?} tried to open {i} for writing: {err}"
            );
            assert!(
                !err.contains("panicked"),
                "kzrescue {args:?} panicked on {i}: {err}"
            );
            // Every run ends with a normal exit code (no signal).
            assert!(
                (0..=20).contains(&code),
                "kzrescue {args:?} on {i}: exit {code}\n{out}\n{err}"
            );
        }
    }
    // The guard is real: a command that does write is stopped by it.
    let gpt = images
        .iter()
        .find(|p| p.file_name().unwrap().to_string_lossy() == "gpt-x86-efi-512.img")
        .expect("gpt-x86-efi-512.img fixture");
    let key = tmp.path().join("never.key");
    let (code, _, err) = common::kzrescue(&[
        "hostdata",
        "init",
        &gpt.display().to_string(),
        "--zone",
        "z",
        "--key-out",
        &key.display().to_string(),
        "--write",
        "--journal",
        &tmp.path().join("never.undo").display().to_string(),
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("Operation not permitted") || err.contains("Read-only file system"),
        "a writing command was not stopped by the guard: {err}"
    );
    let after: Vec<_> = images.iter().map(|p| fingerprint(p)).collect();
    for ((img, b), a) in images.iter().zip(&before).zip(&after) {
        assert_eq!(b, a, "{} changed (SHA-256 or mtime)", img.display());
    }
    println!(
        "read-only guarantee: {runs} read-command runs on {} fixtures, none opened a target for writing, all images unchanged",
        images.len()
    );
    drop(guard);
}
