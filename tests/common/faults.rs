//! The fault matrix of a writer's run, for [`kzrescue::source::FaultSource`].

use kzrescue::source::Fault;

/// Every fault for a run of `writes` writes and `flushes` flushes: a stop
/// after each operation, each write torn at 512 bytes or failing with EIO
/// or ENOSPC, each flush failing.
pub fn every_fault(writes: u64, flushes: u64) -> Vec<Fault> {
    let mut f: Vec<Fault> = (0..writes + flushes).map(Fault::StopAfterOps).collect();
    for nth in 1..=writes {
        f.push(Fault::TearWrite { nth, bytes: 512 });
        f.push(Fault::FailWrite {
            nth,
            errno: libc::EIO,
        });
        f.push(Fault::FailWrite {
            nth,
            errno: libc::ENOSPC,
        });
    }
    f.extend((1..=flushes).map(|nth| Fault::FailFlush { nth }));
    f
}
