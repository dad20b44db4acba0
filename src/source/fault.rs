//! A fault-injecting [`Source`] wrapper for crash and error tests.
//!
//! [`FaultSource`] passes reads, writes and flushes through to an inner source
//! and counts the writes and flushes. A [`Fault`] makes it behave like a
//! device that stops (power loss, a killed process), refuses one write with an
//! errno (`EIO`, `ENOSPC`), or tears one write after its first sectors. It is
//! public so that every writer's reliability tests share one definition of
//! "the k-th operation".

use super::{SharedSource, Source};
use crate::error::{Error, Result};
use std::sync::Mutex;

/// What goes wrong, counted over the wrapper's lifetime (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: a transparent, counting wrapper.
    None,
    /// After `n` writes and flushes (together) have reached the inner source,
    /// every later write or flush fails with `EIO` and reaches nothing, as if
    /// the machine stopped there. `n = 0` stops before the first operation.
    StopAfterOps(u64),
    /// The `nth` write fails with `errno` and writes nothing; later operations
    /// work again (a transient error such as `ENOSPC` on a thin LUN).
    FailWrite {
        /// Which write (1-based).
        nth: u64,
        /// The errno to report, e.g. `libc::EIO`.
        errno: i32,
    },
    /// The `nth` write reaches the inner source only up to `bytes` bytes, then
    /// the device stops: that write and everything after it fail with `EIO`.
    TearWrite {
        /// Which write (1-based).
        nth: u64,
        /// How many leading bytes of it land (e.g. 512, one sector).
        bytes: usize,
    },
    /// The `nth` flush fails with `EIO` (the data may or may not be durable);
    /// later operations work again.
    FailFlush {
        /// Which flush (1-based).
        nth: u64,
    },
}

#[derive(Debug, Default)]
struct Counters {
    writes: u64,
    flushes: u64,
    stopped: bool,
}

/// A [`Source`] that injects one [`Fault`] into the writes and flushes it passes on.
pub struct FaultSource {
    inner: SharedSource,
    fault: Fault,
    counters: Mutex<Counters>,
}

impl FaultSource {
    /// Wraps `inner`, injecting `fault`.
    pub fn new(inner: SharedSource, fault: Fault) -> Self {
        FaultSource {
            inner,
            fault,
            counters: Mutex::new(Counters::default()),
        }
    }

    /// Writes attempted so far (including failed ones).
    pub fn writes(&self) -> u64 {
        self.lock().writes
    }

    /// Flushes attempted so far (including failed ones).
    pub fn flushes(&self) -> u64 {
        self.lock().flushes
    }

    /// Writes and flushes attempted so far.
    pub fn ops(&self) -> u64 {
        let c = self.lock();
        c.writes + c.flushes
    }

    /// Whether the device has "stopped" (a stop or tear fault fired).
    pub fn stopped(&self) -> bool {
        self.lock().stopped
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        // A panic while holding this lock can only come from a test; keep going.
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn injected(&self, what: String, errno: i32) -> Error {
        Error::io(
            format!("{what} of {} (injected fault)", self.inner.name()),
            std::io::Error::from_raw_os_error(errno),
        )
    }
}

impl Source for FaultSource {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.inner.read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        let mut c = self.lock();
        c.writes += 1;
        let what = || format!("write {} bytes at {offset:#x}", buf.len());
        if c.stopped {
            return Err(self.injected(what(), libc::EIO));
        }
        match self.fault {
            Fault::StopAfterOps(n) if c.writes + c.flushes > n => {
                c.stopped = true;
                Err(self.injected(what(), libc::EIO))
            }
            Fault::FailWrite { nth, errno } if c.writes == nth => Err(self.injected(what(), errno)),
            Fault::TearWrite { nth, bytes } if c.writes == nth => {
                c.stopped = true;
                let n = bytes.min(buf.len());
                self.inner.write_at(offset, &buf[..n])?;
                Err(self.injected(what(), libc::EIO))
            }
            _ => self.inner.write_at(offset, buf),
        }
    }
    fn flush(&self) -> Result<()> {
        let mut c = self.lock();
        c.flushes += 1;
        if c.stopped {
            return Err(self.injected("flush".into(), libc::EIO));
        }
        match self.fault {
            Fault::StopAfterOps(n) if c.writes + c.flushes > n => {
                c.stopped = true;
                Err(self.injected("flush".into(), libc::EIO))
            }
            Fault::FailFlush { nth } if c.flushes == nth => {
                Err(self.injected("flush".into(), libc::EIO))
            }
            _ => self.inner.flush(),
        }
    }
    fn writable(&self) -> bool {
        self.inner.writable()
    }
    fn logical_sector_size(&self) -> Option<u32> {
        self.inner.logical_sector_size()
    }
    fn identity(&self) -> String {
        self.inner.identity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// An in-memory writable source, only for exercising the wrapper.
    struct Mem(Mutex<Vec<u8>>);
    impl Source for Mem {
        fn name(&self) -> String {
            "mem".into()
        }
        fn size(&self) -> u64 {
            self.0.lock().unwrap().len() as u64
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
            let v = self.0.lock().unwrap();
            buf.copy_from_slice(&v[offset as usize..offset as usize + buf.len()]);
            Ok(())
        }
        fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
            let mut v = self.0.lock().unwrap();
            v[offset as usize..offset as usize + buf.len()].copy_from_slice(buf);
            Ok(())
        }
        fn writable(&self) -> bool {
            true
        }
    }

    fn mem() -> Arc<Mem> {
        Arc::new(Mem(Mutex::new(vec![0u8; 4096])))
    }

    #[test]
    fn stop_after_ops_counts_writes_and_flushes() {
        let m = mem();
        let f = FaultSource::new(m.clone(), Fault::StopAfterOps(2));
        f.write_at(0, &[1; 10]).unwrap();
        f.flush().unwrap();
        assert!(f.write_at(10, &[2; 10]).is_err());
        assert!(f.flush().is_err());
        assert!(f.stopped());
        let mut b = [0u8; 20];
        f.read_at(0, &mut b).unwrap();
        assert_eq!(&b[..10], &[1; 10]);
        assert_eq!(&b[10..], &[0; 10]);
        assert_eq!(f.ops(), 4);
    }

    #[test]
    fn tear_lands_a_prefix_then_stops() {
        let m = mem();
        let f = FaultSource::new(m.clone(), Fault::TearWrite { nth: 1, bytes: 512 });
        let e = f.write_at(0, &[7; 1024]).unwrap_err();
        assert!(e.to_string().contains("injected"), "{e}");
        let mut b = [0u8; 1024];
        m.read_at(0, &mut b).unwrap();
        assert!(b[..512].iter().all(|&x| x == 7));
        assert!(b[512..].iter().all(|&x| x == 0));
        assert!(f.write_at(2048, &[1]).is_err());
    }

    #[test]
    fn fail_write_is_transient_and_names_the_errno() {
        let m = mem();
        let f = FaultSource::new(
            m.clone(),
            Fault::FailWrite {
                nth: 1,
                errno: libc::ENOSPC,
            },
        );
        let e = f.write_at(0, &[9; 4]).unwrap_err();
        assert!(e.to_string().contains("No space left"), "{e}");
        f.write_at(0, &[9; 4]).unwrap();
        let mut b = [0u8; 4];
        m.read_at(0, &mut b).unwrap();
        assert_eq!(b, [9; 4]);
    }
}
