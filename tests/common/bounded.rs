//! Running the CLI under resource bounds: reaped with `wait4` for its own
//! peak RSS and CPU time, killed after a wall-time limit. Used by the
//! resource-bound tests (hostile sizes and hostile structures).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Peak RSS a hostile input may cost.
pub const MAX_RSS_KIB: i64 = 512 * 1024;
/// CPU time a hostile input may cost.
pub const MAX_CPU_S: f64 = 30.0;
/// Wall time after which the run is killed (and the test fails).
pub const KILL_AFTER: Duration = Duration::from_secs(120);

/// How a run ended.
pub struct Outcome {
    /// Exit code, or minus the signal that ended it.
    pub code: i32,
    /// Its stdout (the first bytes only, with a limit).
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: String,
    /// Peak RSS in KiB.
    pub rss_kib: i64,
    /// User + system CPU seconds.
    pub cpu_s: f64,
}

impl Outcome {
    /// stdout and stderr, as text.
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned() + &self.stderr
    }
}

/// Runs the CLI, reaps it with wait4 and returns its exit code, output,
/// peak RSS and CPU time. With `stdout_limit`, stdout is a pipe closed
/// after that many bytes (the reader must then stop on its own).
#[allow(clippy::zombie_processes)] // reaped with wait4, which gives its rusage
pub fn run_limited(args: &[&str], stdout_limit: Option<usize>) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let (o, e) = (dir.path().join("out"), dir.path().join("err"));
    let mut cmd = Command::new(super::kzrescue_bin());
    cmd.args(args)
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&e).unwrap());
    match stdout_limit {
        Some(_) => cmd.stdout(Stdio::piped()),
        None => cmd.stdout(std::fs::File::create(&o).unwrap()),
    };
    let mut child = cmd.spawn().unwrap();
    let mut head = Vec::new();
    if let Some(limit) = stdout_limit {
        use std::io::Read;
        let mut pipe = child.stdout.take().unwrap();
        let mut buf = vec![0u8; 1 << 16];
        while head.len() < limit {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        drop(pipe);
    }
    let pid = child.id() as libc::pid_t;
    let start = Instant::now();
    let mut status = 0;
    // SAFETY: rusage is a C struct of integers and timevals; all-zero is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 on our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4 failed");
        if start.elapsed() > KILL_AFTER {
            let _ = child.kill();
            panic!("kzrescue {args:?} still running after {KILL_AFTER:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let stdout = if stdout_limit.is_some() {
        head
    } else {
        std::fs::read(&o).unwrap()
    };
    Outcome {
        code,
        stdout,
        stderr: std::fs::read_to_string(&e).unwrap(),
        rss_kib: ru.ru_maxrss,
        cpu_s: tv(ru.ru_utime) + tv(ru.ru_stime),
    }
}

/// [`run_limited`] with stdout to a file.
pub fn run(args: &[&str]) -> Outcome {
    run_limited(args, None)
}
