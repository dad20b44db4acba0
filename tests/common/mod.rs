//! Helpers shared by the integration tests, one tree: every test file
//! says `mod common;` and uses what it needs (`common::synthpool`,
//! `common::iscsi`, …). Each test binary uses a different subset, so unused
//! helpers are expected here: dead-code warnings are allowed once, for the
//! whole tree, by the line below.
#![allow(dead_code)]

pub mod bounded;
pub mod gpt;
pub mod hostdata;
pub mod iscsi;
pub mod iscsi_proxy;
pub mod label;
pub mod loopdev;
pub mod nvlist;
pub mod physpath;
pub mod synthpool;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate's root directory.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether we run under CI (`CI=true`), where a missing component is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

/// Whether `tool` is on PATH. When it is not: under CI this panics (a missing
/// component is a failure there); elsewhere it prints a SKIPPED line naming
/// the Debian package that provides it and returns false.
pub fn require_tool(tool: &str, package: &str, test: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if found {
        return true;
    }
    if in_ci() {
        panic!("{test}: `{tool}` is missing (Debian package {package}) and CI=true");
    }
    println!("SKIPPED {test}: `{tool}` not found (install Debian package {package})");
    false
}

/// Decompresses `testimages/<name>.zst` into `dir` and returns the path of the
/// raw file (`dir/<name>`). Uses the crate's own zstd dependency so that no
/// tool is needed.
pub fn unpack_fixture(name: &str, dir: &Path) -> PathBuf {
    let src = root().join("testimages").join(format!("{name}.zst"));
    let f = std::fs::File::open(&src).unwrap_or_else(|e| panic!("open {}: {e}", src.display()));
    let mut dec = ruzstd::decoding::StreamingDecoder::new(std::io::BufReader::new(f))
        .unwrap_or_else(|e| panic!("zstd header of {}: {e}", src.display()));
    let out = dir.join(name);
    let mut w = std::fs::File::create(&out).unwrap();
    std::io::copy(&mut dec, &mut w).unwrap_or_else(|e| panic!("unpack {}: {e}", src.display()));
    out
}

/// Path of the built `kzrescue` binary.
pub fn kzrescue_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kzrescue"))
}

/// Runs `kzrescue args…`; returns (exit code, stdout, stderr).
pub fn kzrescue(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(kzrescue_bin())
        .args(args)
        .output()
        .expect("run kzrescue");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
