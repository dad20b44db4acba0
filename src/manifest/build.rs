//! Building a manifest: a pipeline that keeps every core busy and memory
//! flat in the number of files.
//!
//! * The **walker** visits the file system depth first, each directory in
//!   name order, and turns every object into an [`Entry`]; it stops when
//!   [`Options::window`] entries wait to be written.
//! * **Readers** take the files waiting to be hashed, biggest first, and
//!   read their blocks (read, checksum-verify, decompress). A small file is
//!   hashed by its reader; a big one's blocks go through a short queue to a
//!   **hasher**, so that the SHA-256 of one big file runs on one core while
//!   its blocks are read on another. Holes are hashed from a static block of
//!   zeros, never allocated. Hashed blocks go back to the pool
//!   ([`crate::zfs::pool::Pool::recycle`]) for the next reads.
//! * The caller's thread writes the entries out in walk order as soon as
//!   the first one waiting is complete.
//!
//! A file object with several names (hard links) is read once; its later
//! names take the hash of the first.

use super::{BlockCounts, Entry};
use crate::error::Result;
use crate::zfs::dnode::Dnode;
use crate::zfs::walk::{Node, walk};
use crate::zfs::zpl::{FileType, Zpl};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Condvar, Mutex, MutexGuard};

/// How a manifest is built.
#[derive(Clone, Debug)]
pub struct Options {
    /// Threads reading blocks, and as many hashing them (at least 1).
    pub jobs: usize,
    /// Entries walked ahead of the one being written, at most.
    pub window: usize,
    /// Files claiming more bytes than this are not read: their entry gets
    /// an `error` instead of a hash (a hostile size would take forever).
    pub max_file_size: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
            window: 4096,
            max_file_size: 64 << 30,
        }
    }
}

impl Options {
    /// The default options with `max_file_size`, and `jobs` threads when
    /// given (at least 1; the default is one per core).
    pub fn new(max_file_size: u64, jobs: Option<usize>) -> Options {
        let d = Options::default();
        Options {
            jobs: jobs.map_or(d.jobs, |j| j.max(1)),
            max_file_size,
            ..d
        }
    }
}

/// What a finished stream reports besides its entries.
#[derive(Debug, Default)]
pub struct Summary {
    /// Paths that could not be read (walk errors, unreadable contents).
    pub errors: Vec<String>,
    /// Blocks read, by how their checksum was checked.
    pub blocks: BlockCounts,
    /// Entries written.
    pub entries: u64,
}

/// Files of at most this many bytes are hashed by the thread that reads
/// them: handing their one or two blocks to a hasher costs more than it
/// saves.
const INLINE_BYTES: u64 = 512 * 1024;

/// Blocks of one big file read ahead of its hasher.
const QUEUE_BLOCKS: usize = 4;

/// Zeros that holes are hashed from.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// Streams the manifest entries of file system `fs` to `emit`, in walk
/// order, while reading and hashing with `opts.jobs` threads each. Entries
/// name `dataset` when it is given (recursive manifests). `progress` is
/// told every run of file bytes hashed. An error from `emit` (a closed
/// output) stops the walk and is returned; errors reading the file system
/// are per path, in the [`Summary`].
pub fn stream(
    fs: &Zpl,
    dataset: Option<&str>,
    opts: &Options,
    progress: &(dyn Fn(u64) + Sync),
    emit: &mut dyn FnMut(Entry) -> Result<()>,
) -> Result<Summary> {
    let stats = &fs.pool.stats;
    let count = || {
        [&stats.verified, &stats.unverified, &stats.repaired]
            .map(|c| c.load(AtomicOrdering::Relaxed))
    };
    let before = count();
    let jobs = opts.jobs.max(1);
    let shared = Shared {
        window: Mutex::new(Window::default()),
        ready_cv: Condvar::new(),
        room_cv: Condvar::new(),
        jobs: Mutex::new(JobQueue::default()),
        jobs_cv: Condvar::new(),
        hand: Mutex::new(HandQueue {
            readers_left: jobs,
            ..HandQueue::default()
        }),
        hand_cv: Condvar::new(),
        limit: opts.window.max(1),
    };
    let mut summary = Summary::default();
    let written = std::thread::scope(|s| {
        let walker = s.spawn(|| walker(fs, dataset, opts.max_file_size, &shared));
        for _ in 0..jobs {
            s.spawn(|| reader(fs, &shared, progress));
            s.spawn(|| hasher(fs, &shared, progress));
        }
        let r = writer(&shared, &mut summary, emit);
        if r.is_err() {
            shared.abort();
        }
        let walk_errors = walker.join().unwrap_or_default();
        // what the file system says about the disk, then the walk's errors
        let warnings = fs.warnings.iter().map(|w| format!("warning: {w}"));
        summary.errors.splice(0..0, warnings.chain(walk_errors));
        r
    });
    let after = count();
    summary.blocks = BlockCounts {
        verified: after[0] - before[0],
        unverified: after[1] - before[1],
        repaired: after[2] - before[2],
    };
    written.map(|n| {
        summary.entries = n;
        summary
    })
}

/// The result of hashing a file: hex SHA-256, or why it could not be read.
type Hashed = std::result::Result<String, String>;

/// What a hasher receives of a big file: runs of bytes, or why reading stopped.
enum Chunk {
    Data(Vec<u8>),
    Zeros(u64),
    Failed(String),
}

/// A file waiting to be read.
struct Job {
    seq: u64,
    dnode: Dnode,
    size: u64,
}

impl PartialEq for Job {
    fn eq(&self, o: &Self) -> bool {
        self.seq == o.seq
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Job {
    /// Biggest first, then walk order.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.size.cmp(&o.size).then(o.seq.cmp(&self.seq))
    }
}

#[derive(Default)]
struct JobQueue {
    heap: BinaryHeap<Job>,
    closed: bool,
}

#[derive(Default)]
struct HandQueue {
    queue: VecDeque<(u64, Receiver<Chunk>)>,
    readers_left: usize,
}

/// What an entry waits for before it can be written.
enum Need {
    Nothing,
    /// Its file's hash (from a reader or hasher).
    Hash(Option<Hashed>),
    /// The hash of the same object under an earlier name.
    Link(u64),
}

struct Slot {
    entry: Entry,
    need: Need,
}

#[derive(Default)]
struct Window {
    /// Sequence number of `slots[0]`.
    base: u64,
    slots: VecDeque<Slot>,
    walked: bool,
    aborted: bool,
}

struct Shared {
    window: Mutex<Window>,
    /// The writer waits here for the first entry to be complete.
    ready_cv: Condvar,
    /// The walker waits here for room in the window.
    room_cv: Condvar,
    jobs: Mutex<JobQueue>,
    jobs_cv: Condvar,
    hand: Mutex<HandQueue>,
    hand_cv: Condvar,
    limit: usize,
}

/// Locks `m`, taking the data of a poisoned lock as it is (a panicking
/// worker has already lost its result; the writer still ends).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn wait<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(g).unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Stops everything: the writer failed.
    fn abort(&self) {
        lock(&self.window).aborted = true;
        self.ready_cv.notify_all();
        self.room_cv.notify_all();
        {
            let mut j = lock(&self.jobs);
            j.heap.clear();
            j.closed = true;
        }
        self.jobs_cv.notify_all();
    }

    /// Records the hash of entry `seq`.
    fn deliver(&self, seq: u64, h: Hashed) {
        let mut w = lock(&self.window);
        let base = w.base;
        if let Some(slot) = seq
            .checked_sub(base)
            .and_then(|i| w.slots.get_mut(i as usize))
        {
            slot.need = Need::Hash(Some(h));
        }
        drop(w);
        // only the first entry's hash lets the writer go on
        if seq == base {
            self.ready_cv.notify_one();
        }
    }
}

/// Walks `fs`, filling the window and the job queue; returns the walk's
/// errors.
fn walker(fs: &Zpl, dataset: Option<&str>, max_file_size: u64, sh: &Shared) -> Vec<String> {
    let errors = std::cell::RefCell::new(Vec::new());
    let mut linked: HashSet<u64> = HashSet::new();
    let mut seq = 0u64;
    let mut stopped = false;
    walk(
        fs,
        fs.root,
        b"/",
        |n| {
            if stopped {
                return;
            }
            let (entry, need, job) = describe(
                fs,
                dataset,
                max_file_size,
                n,
                &mut linked,
                &mut errors.borrow_mut(),
            );
            let mut w = lock(&sh.window);
            while w.slots.len() >= sh.limit && !w.aborted {
                w = wait(&sh.room_cv, w);
            }
            if w.aborted {
                stopped = true;
                return;
            }
            let first = w.slots.is_empty();
            w.slots.push_back(Slot { entry, need });
            drop(w);
            if first {
                sh.ready_cv.notify_one();
            }
            if let Some((dnode, size)) = job {
                lock(&sh.jobs).heap.push(Job { seq, dnode, size });
                sh.jobs_cv.notify_one();
            }
            seq += 1;
        },
        |p, e| {
            errors
                .borrow_mut()
                .push(format!("{}: {e}", String::from_utf8_lossy(&p)))
        },
    );
    lock(&sh.window).walked = true;
    sh.ready_cv.notify_all();
    lock(&sh.jobs).closed = true;
    sh.jobs_cv.notify_all();
    errors.into_inner()
}

/// The entry of a walked object, what it waits for, and the file to read
/// for it.
fn describe(
    fs: &Zpl,
    dataset: Option<&str>,
    max_file_size: u64,
    n: Node,
    linked: &mut HashSet<u64>,
    errors: &mut Vec<String>,
) -> (Entry, Need, Option<(Dnode, u64)>) {
    let z = &n.znode;
    let kind = z.file_type();
    let mut e = Entry {
        dataset: dataset.map(str::to_string),
        path: String::from_utf8_lossy(&n.path).into_owned(),
        kind,
        mode: format!("{:04o}", z.mode & 0o7777),
        uid: z.uid,
        gid: z.gid,
        size: z.size,
        mtime: z.mtime.sec,
        mtime_nsec: z.mtime.nsec,
        links: z.links,
        object: z.object,
        sha256: None,
        target: None,
        rdev: None,
        xattrs: BTreeMap::new(),
        error: None,
    };
    // what the names say about the disk (issue 12)
    if let Some(why) = n.name_problem {
        errors.push(format!("{}: {why} (the path shows it escaped)", e.path));
    }
    if n.duplicate {
        errors.push(format!(
            "{}: a second entry of this name in one directory",
            e.path
        ));
    }
    let mut need = Need::Nothing;
    let mut job = None;
    match kind {
        FileType::File if z.size > max_file_size => {
            e.error = Some(format!(
                "claimed size {} exceeds --max-file-size {max_file_size}: not hashed",
                z.size
            ));
        }
        FileType::File => {
            // Only objects that say they have several names are
            // remembered; an object named twice that says otherwise is
            // simply read twice.
            if z.links > 1 && !linked.insert(z.object) {
                need = Need::Link(z.object);
            } else {
                need = Need::Hash(None);
                job = Some((n.dnode.clone(), z.size));
            }
        }
        FileType::Symlink => match fs.readlink(&n.dnode, z) {
            Ok(t) => e.target = Some(String::from_utf8_lossy(&t).into_owned()),
            Err(m) => e.error = Some(m.to_string()),
        },
        FileType::Chardev | FileType::Blockdev => {
            let (ma, mi) = z.device();
            e.rdev = Some([ma, mi]);
        }
        _ => {}
    }
    if z.xattr != 0 {
        match xattrs(fs, z.xattr) {
            Ok(x) => e.xattrs = x,
            Err(m) => errors.push(format!("{} (xattr directory): {m}", e.path)),
        }
    }
    (e, need, job)
}

/// Name → SHA-256 of the files in an extended-attribute directory.
fn xattrs(fs: &Zpl, dir: u64) -> Result<BTreeMap<String, String>> {
    let (dn, _) = fs.znode(dir)?;
    let mut out = BTreeMap::new();
    for e in fs.readdir(&dn)? {
        let (xdn, xz) = fs.znode(e.object)?;
        let mut h = Sha256::new();
        read_chunks(fs, &xdn, xz.size, &mut |c| {
            match c {
                Chunk::Data(d) => h.update(&d),
                Chunk::Zeros(n) => hash_zeros(&mut h, n),
                Chunk::Failed(_) => {}
            }
            true
        })?;
        out.insert(
            String::from_utf8_lossy(&e.name).into_owned(),
            hex::encode(h.finalize()),
        );
    }
    Ok(out)
}

fn hash_zeros(h: &mut Sha256, mut n: u64) {
    while n > 0 {
        let k = n.min(ZEROS.len() as u64) as usize;
        h.update(&ZEROS[..k]);
        n -= k as u64;
    }
}

/// Reads the first `size` bytes of file `dn` as runs handed to `out`: each
/// allocated block as read (owned, no copy), each hole and each short
/// block's tail as a count of zeros. `out` returning false stops the read.
/// (This is [`Zpl::read_file`]'s walk over the block tree, keeping the
/// blocks instead of lending them.)
fn read_chunks(fs: &Zpl, dn: &Dnode, size: u64, out: &mut dyn FnMut(Chunk) -> bool) -> Result<()> {
    let bs = dn.datablksz;
    let mut pos = 0u64;
    let mut blkid = 0u64;
    while blkid.checked_mul(bs).is_some_and(|o| o < size) {
        let Some((b, bp)) = dn.next_block(&fs.pool, blkid, None)? else {
            break;
        };
        let off = match b.checked_mul(bs) {
            Some(o) if o < size => o,
            _ => break,
        };
        if off > pos && !out(Chunk::Zeros(off - pos)) {
            return Ok(());
        }
        let mut d = fs
            .pool
            .read_block(&bp)
            .map_err(|e| dn.block_error(0, b, &bp, e))?;
        let take = ((size - off).min(bs) as usize).min(d.len());
        d.truncate(take);
        pos = off + take as u64;
        if !out(Chunk::Data(d)) {
            return Ok(());
        }
        blkid = b + 1;
    }
    if pos < size {
        out(Chunk::Zeros(size - pos));
    }
    Ok(())
}

/// A reader thread: takes the biggest file waiting, hashes it itself when
/// it is small, else streams its blocks to a hasher.
fn reader(fs: &Zpl, sh: &Shared, progress: &(dyn Fn(u64) + Sync)) {
    loop {
        let job = {
            let mut q = lock(&sh.jobs);
            loop {
                if let Some(j) = q.heap.pop() {
                    break Some(j);
                }
                if q.closed {
                    break None;
                }
                q = wait(&sh.jobs_cv, q);
            }
        };
        let Some(job) = job else { break };
        if job.size <= INLINE_BYTES {
            let mut h = Sha256::new();
            let r = read_chunks(fs, &job.dnode, job.size, &mut |c| {
                let n = match c {
                    Chunk::Data(d) => {
                        h.update(&d);
                        let n = d.len() as u64;
                        fs.pool.recycle(d);
                        n
                    }
                    Chunk::Zeros(n) => {
                        hash_zeros(&mut h, n);
                        n
                    }
                    Chunk::Failed(_) => 0,
                };
                progress(n);
                true
            });
            sh.deliver(
                job.seq,
                r.map(|_| hex::encode(h.finalize()))
                    .map_err(|e| e.to_string()),
            );
            continue;
        }
        let (tx, rx): (SyncSender<Chunk>, Receiver<Chunk>) = sync_channel(QUEUE_BLOCKS);
        lock(&sh.hand).queue.push_back((job.seq, rx));
        sh.hand_cv.notify_one();
        let r = read_chunks(fs, &job.dnode, job.size, &mut |c| tx.send(c).is_ok());
        if let Err(e) = r {
            let _ = tx.send(Chunk::Failed(e.to_string()));
        }
    }
    lock(&sh.hand).readers_left -= 1;
    sh.hand_cv.notify_all();
}

/// A hasher thread: hashes big files' blocks as their readers send them.
fn hasher(fs: &Zpl, sh: &Shared, progress: &(dyn Fn(u64) + Sync)) {
    loop {
        let next = {
            let mut q = lock(&sh.hand);
            loop {
                if let Some(x) = q.queue.pop_front() {
                    break Some(x);
                }
                if q.readers_left == 0 {
                    break None;
                }
                q = wait(&sh.hand_cv, q);
            }
        };
        let Some((seq, rx)) = next else { break };
        let mut h = Sha256::new();
        let mut failed = None;
        for c in rx {
            match c {
                Chunk::Data(d) => {
                    h.update(&d);
                    progress(d.len() as u64);
                    fs.pool.recycle(d);
                }
                Chunk::Zeros(n) => {
                    hash_zeros(&mut h, n);
                    progress(n);
                }
                Chunk::Failed(m) => failed = Some(m),
            }
        }
        sh.deliver(
            seq,
            match failed {
                Some(m) => Err(m),
                None => Ok(hex::encode(h.finalize())),
            },
        );
    }
}

/// The caller's side: writes entries in walk order as they complete;
/// returns how many.
fn writer(
    sh: &Shared,
    summary: &mut Summary,
    emit: &mut dyn FnMut(Entry) -> Result<()>,
) -> Result<u64> {
    // hashes of objects with several names (as many as the walker's set)
    let mut links: HashMap<u64, Hashed> = HashMap::new();
    let mut n = 0u64;
    let mut batch: VecDeque<Slot> = VecDeque::new();
    loop {
        if batch.is_empty() {
            // take every complete entry at the front in one go
            let mut w = lock(&sh.window);
            loop {
                while batch.len() < 1024
                    && w.slots
                        .front()
                        .is_some_and(|s| !matches!(s.need, Need::Hash(None)))
                {
                    batch.extend(w.slots.pop_front());
                    w.base += 1;
                }
                if !batch.is_empty() || (w.slots.is_empty() && w.walked) {
                    break;
                }
                w = wait(&sh.ready_cv, w);
            }
            drop(w);
            sh.room_cv.notify_one();
        }
        let slot = batch.pop_front();
        let Some(Slot { mut entry, need }) = slot else {
            return Ok(n);
        };
        let hashed =
            match need {
                Need::Nothing => None,
                Need::Hash(h) => {
                    let h = h.unwrap_or_else(|| Err("not read".into()));
                    if entry.links > 1 {
                        links.insert(entry.object, h.clone());
                    }
                    Some(h)
                }
                Need::Link(obj) => {
                    // the first name was written before this one
                    Some(links.get(&obj).cloned().unwrap_or_else(|| {
                        Err(format!("object {obj}: no hash from its first name"))
                    }))
                }
            };
        match hashed {
            Some(Ok(h)) => entry.sha256 = Some(h),
            Some(Err(m)) => {
                summary.errors.push(format!("{}: {m}", entry.path));
                entry.error = Some(m);
            }
            None => {
                if let Some(m) = &entry.error {
                    summary.errors.push(format!("{}: {m}", entry.path));
                }
            }
        }
        emit(entry)?;
        n += 1;
    }
}
