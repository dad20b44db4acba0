//! A loop device over an image file (`losetup -f --show`), detached when
//! dropped: a real block device for the tests that need one.

use std::path::Path;
use std::process::Command;

/// An attached loop device; `dev` is its path (`/dev/loopN`).
pub struct Loop {
    pub dev: String,
}

impl Loop {
    /// Attaches `file` (with `-b SECTOR` when given, `-r` when
    /// `read_only`); Err carries losetup's stderr (typically: not root).
    pub fn attach(file: &Path, sector: Option<u32>, read_only: bool) -> Result<Loop, String> {
        let mut cmd = Command::new("losetup");
        cmd.args(["-f", "--show"]);
        if read_only {
            cmd.arg("-r");
        }
        if let Some(s) = sector {
            cmd.args(["-b", &s.to_string()]);
        }
        let out = cmd
            .arg(file)
            .output()
            .map_err(|e| format!("losetup: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Loop {
            dev: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        })
    }

    /// [`Loop::attach`] read-write for `test`, or None after a SKIPPED line
    /// (losetup missing, or no loop device without root); under CI a failure
    /// instead.
    pub fn attach_or_skip(file: &Path, sector: Option<u32>, test: &str) -> Option<Loop> {
        if !super::require_tool("losetup", "mount", test) {
            return None;
        }
        match Loop::attach(file, sector, false) {
            Ok(l) => Some(l),
            Err(why) => {
                assert!(!super::in_ci(), "{test}: losetup failed under CI: {why}");
                println!("SKIPPED {test}: cannot create a loop device (needs root): {why}");
                None
            }
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}
