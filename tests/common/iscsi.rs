//! A private `tgtd` for one test: 127.0.0.1 only, a free port, its own
//! control port; stopped by pid (tgtadm --op delete --mode system, then
//! wait, then SIGKILL if it lingers).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Tgt {
    pub port: u16,
    pub ctl: u16,
    child: Option<Child>,
    pub dir: tempfile::TempDir,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Deterministic pseudo-random bytes (xorshift), so every block differs.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

impl Tgt {
    /// Starts tgtd, or returns None (after a SKIPPED line) when it is missing.
    pub fn start(test: &str) -> Option<Tgt> {
        if !super::require_tool("tgtd", "tgt", test) || !super::require_tool("tgtadm", "tgt", test)
        {
            return None;
        }
        for _ in 0..5 {
            let port = free_port();
            // Control ports (tgtd accepts 0..=32767) name a UNIX socket; derive one from the port.
            let ctl = 1000 + port % 31_000;
            let dir = tempfile::tempdir().unwrap();
            let log = std::fs::File::create(dir.path().join("tgtd.log")).unwrap();
            let child = Command::new("tgtd")
                .args([
                    "-f",
                    "-C",
                    &ctl.to_string(),
                    "--iscsi",
                    &format!("portal=127.0.0.1:{port}"),
                ])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn tgtd");
            let mut t = Tgt {
                port,
                ctl,
                child: Some(child),
                dir,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if t.try_adm(&["--op", "show", "--mode", "system"])
                    .status
                    .success()
                    && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                {
                    return Some(t);
                }
                if let Some(c) = t.child.as_mut()
                    && c.try_wait().unwrap().is_some()
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            t.stop();
        }
        panic!("tgtd did not start");
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn try_adm(&self, args: &[&str]) -> Output {
        Command::new("tgtadm")
            .args(["-C", &self.ctl.to_string(), "--lld", "iscsi"])
            .args(args)
            .output()
            .expect("run tgtadm")
    }

    pub fn adm(&self, args: &[&str]) {
        let o = self.try_adm(args);
        assert!(
            o.status.success(),
            "tgtadm {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }

    pub fn portal(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// New target `tid` named `iqn`, open to every initiator.
    pub fn target(&self, tid: u32, iqn: &str) {
        self.adm(&[
            "--op",
            "new",
            "--mode",
            "target",
            "--tid",
            &tid.to_string(),
            "-T",
            iqn,
        ]);
        self.adm(&[
            "--op",
            "bind",
            "--mode",
            "target",
            "--tid",
            &tid.to_string(),
            "-I",
            "ALL",
        ]);
    }

    /// Exports `path` as LUN `lun` of `tid` with SCSI id `scsi_id` (32 hex digits).
    pub fn lun(&self, tid: u32, lun: u32, path: &Path, scsi_id: &str, block: Option<u32>) {
        let (t, l) = (tid.to_string(), lun.to_string());
        let p = path.to_str().unwrap();
        let mut args = vec![
            "--op",
            "new",
            "--mode",
            "logicalunit",
            "--tid",
            &t,
            "--lun",
            &l,
            "-b",
            p,
        ];
        let bs;
        if let Some(b) = block {
            bs = b.to_string();
            args.extend(["--blocksize", &bs]);
        }
        self.adm(&args);
        let params = format!("scsi_id={scsi_id}");
        self.adm(&[
            "--op",
            "update",
            "--mode",
            "logicalunit",
            "--tid",
            &t,
            "--lun",
            &l,
            "--params",
            &params,
        ]);
    }

    /// Sets a target's login parameter default (`HeaderDigest`, `InitialR2T`…).
    pub fn param(&self, tid: u32, name: &str, value: &str) {
        self.adm(&[
            "--op",
            "update",
            "--mode",
            "target",
            "--tid",
            &tid.to_string(),
            "--name",
            name,
            "--value",
            value,
        ]);
    }

    /// A CHAP account bound to `tid` for incoming (initiator) authentication.
    pub fn chap(&self, tid: u32, user: &str, secret: &str) {
        self.adm(&[
            "--op",
            "new",
            "--mode",
            "account",
            "--user",
            user,
            "--password",
            secret,
        ]);
        self.adm(&[
            "--op",
            "bind",
            "--mode",
            "account",
            "--tid",
            &tid.to_string(),
            "--user",
            user,
        ]);
    }

    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status();
    }

    /// Stops tgtd: ask it to exit, wait, then SIGKILL if it is still there.
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-CONT", &c.id().to_string()])
            .status();
        // tgtd answers "invalid request" to the system delete while targets
        // exist: delete ours first.
        for tid in 1..=4 {
            let _ = Command::new("tgtadm")
                .args([
                    "-C",
                    &self.ctl.to_string(),
                    "--lld",
                    "iscsi",
                    "--op",
                    "delete",
                ])
                .args(["--mode", "target", "--tid", &tid.to_string(), "--force"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("tgtadm")
            .args([
                "-C",
                &self.ctl.to_string(),
                "--op",
                "delete",
                "--mode",
                "system",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if c.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    /// SIGKILL now and reap (simulates a crashed target).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tgtd.log")).unwrap_or_default()
    }
}

impl Drop for Tgt {
    fn drop(&mut self) {
        self.stop();
    }
}
