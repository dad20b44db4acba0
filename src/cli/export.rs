//! `kzrescue export <targets…> DATASET[@SNAP][:/path] --to DIR | --tar FILE`:
//! copies files out of a dataset or snapshot offline, with modes, owners
//! (when run as root), times and symlinks; a progress bar on stderr.

use super::datasets::{PoolArgs, open_fs, split_spec};
use indicatif::{ProgressBar, ProgressStyle};
use kzrescue::zfs::walk::{Node, walk};
use kzrescue::zfs::zpl::{FileReader, FileType, Znode, Zpl};
use kzrescue::{Error, Result};
use std::collections::HashMap;
use std::fs::{self, File, FileTimes};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Arguments of `kzrescue export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The pool's devices, then `DATASET[@SNAP][:/path]`.
    #[arg(required = true, num_args = 2.., value_name = "TARGET… SPEC")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Write the files under this directory (created if missing; must be empty).
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "tar",
        required_unless_present = "tar"
    )]
    pub to: Option<PathBuf>,
    /// Write a tar archive instead (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub tar: Option<PathBuf>,
}

/// Access and modification times for a file being created, or why one of
/// them cannot be set (the file keeps the time of its creation then).
fn file_times(z: &Znode) -> std::result::Result<FileTimes, String> {
    Ok(FileTimes::new()
        .set_accessed(z.atime.to_system_time()?)
        .set_modified(z.mtime.to_system_time()?))
}

/// A tar header's mtime: octal or GNU base-256 for large values, and
/// base-256 two's complement (leading byte 0xff) for a time before 1970,
/// which GNU tar reads back as negative.
fn set_tar_mtime(h: &mut tar::Header, sec: i64) {
    if sec >= 0 {
        h.set_mtime(sec as u64);
    } else if let Some(g) = h.as_gnu_mut() {
        let mut f = [0xffu8; 12];
        f[4..].copy_from_slice(&sec.to_be_bytes());
        g.mtime = f;
    }
}

/// Joins a walk path (starting with `/`, relative to the export root) to `dir`.
fn dest(dir: &Path, rel: &[u8]) -> PathBuf {
    let rel = rel.strip_prefix(b"/").unwrap_or(rel);
    dir.join(std::ffi::OsStr::from_bytes(rel))
}

fn io(ctx: impl std::fmt::Display, e: std::io::Error) -> Error {
    Error::io(ctx.to_string(), e)
}

fn collect(fs: &Zpl, start: u64, errors: &mut Vec<String>) -> Vec<Node> {
    let mut nodes = Vec::new();
    walk(
        fs,
        start,
        b"/",
        |n| nodes.push(n),
        |p, e| errors.push(format!("{}: {e}", String::from_utf8_lossy(&p))),
    );
    nodes
}

/// Bytes of the regular files among `nodes`, each file object once.
fn file_bytes(nodes: &[Node]) -> u64 {
    let mut seen = std::collections::HashSet::new();
    nodes
        .iter()
        .filter(|n| n.znode.file_type() == FileType::File && seen.insert(n.znode.object))
        .map(|n| n.znode.size)
        .sum()
}

fn bar(total: u64) -> ProgressBar {
    let b = ProgressBar::new(total);
    b.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b
}

fn to_dir(fs: &Zpl, nodes: &[Node], dir: &Path, errors: &mut Vec<String>) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| io(format!("create {}", dir.display()), e))?;
    if fs::read_dir(dir)
        .map_err(|e| io(format!("read {}", dir.display()), e))?
        .next()
        .is_some()
    {
        return Err(Error::Refused(format!("{} is not empty", dir.display())));
    }
    let pb = bar(file_bytes(nodes));
    // Names of one file object after the first become hard links to it,
    // as `cp -a` and tar do: a directory of many names for one large file
    // costs one copy, not one per name.
    let mut linked: HashMap<u64, PathBuf> = HashMap::new();
    let am_root = std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || fs::metadata("/proc/self")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
            .unwrap_or(false);
    for n in nodes {
        let p = dest(dir, &n.path);
        let z = &n.znode;
        let r: std::result::Result<(), String> = (|| {
            match z.file_type() {
                FileType::Dir => {
                    fs::create_dir_all(&p).map_err(|e| e.to_string())?;
                }
                FileType::File if linked.contains_key(&z.object) => {
                    let first = &linked[&z.object];
                    fs::hard_link(first, &p).map_err(|e| e.to_string())?;
                    return Ok(());
                }
                FileType::File => {
                    // Holes stay holes: only allocated blocks are written,
                    // so a sparse file costs its data, not its size.
                    let f = File::create(&p).map_err(|e| e.to_string())?;
                    let mut written = 0u64;
                    fs.read_file_sparse(&n.dnode, z.size, |off, b| {
                        pb.inc(b.len() as u64);
                        written += b.len() as u64;
                        f.write_all_at(b, off)
                    })
                    .map_err(|e| e.to_string())?;
                    f.set_len(z.size)
                        .map_err(|e| format!("cannot make it {} bytes long here: {e}", z.size))?;
                    pb.inc(z.size.saturating_sub(written));
                    linked.insert(z.object, p.clone());
                    f.set_times(file_times(z)?).map_err(|e| e.to_string())?;
                }
                FileType::Symlink => {
                    let t = fs.readlink(&n.dnode, z).map_err(|e| e.to_string())?;
                    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&t), &p)
                        .map_err(|e| e.to_string())?;
                }
                other => {
                    return Err(format!(
                        "{other:?} (rdev {:#x}) not created: use --tar to keep special files",
                        z.rdev
                    ));
                }
            }
            if am_root {
                std::os::unix::fs::lchown(&p, Some(z.uid as u32), Some(z.gid as u32))
                    .map_err(|e| e.to_string())?;
            }
            if z.file_type() != FileType::Symlink {
                fs::set_permissions(&p, fs::Permissions::from_mode((z.mode & 0o7777) as u32))
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        })();
        if let Err(e) = r {
            errors.push(format!("{}: {e}", String::from_utf8_lossy(&n.path)));
        }
    }
    // directory times last, deepest first, once their contents are written
    for n in nodes
        .iter()
        .rev()
        .filter(|n| n.znode.file_type() == FileType::Dir)
    {
        let p = dest(dir, &n.path);
        if let (Ok(f), Ok(t)) = (File::open(&p), file_times(&n.znode)) {
            let _ = f.set_times(t);
        }
    }
    pb.finish_and_clear();
    Ok(())
}

fn to_tar(fs: &Zpl, nodes: &[Node], out: Box<dyn Write>, errors: &mut Vec<String>) -> Result<()> {
    let mut t = tar::Builder::new(out);
    t.mode(tar::HeaderMode::Complete);
    let pb = bar(file_bytes(nodes));
    // further names of one file object are stored as hard links to the first
    let mut linked: HashMap<u64, PathBuf> = HashMap::new();
    for n in nodes {
        let z = &n.znode;
        let rel = n.path.strip_prefix(b"/").unwrap_or(&n.path);
        let name: &[u8] = if rel.is_empty() { b"." } else { rel };
        let name = Path::new(std::ffi::OsStr::from_bytes(name));
        let mut h = tar::Header::new_gnu();
        h.set_mode((z.mode & 0o7777) as u32);
        h.set_uid(z.uid);
        h.set_gid(z.gid);
        set_tar_mtime(&mut h, z.mtime.sec);
        let r = match z.file_type() {
            FileType::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                t.append_data(&mut h, name, std::io::empty())
            }
            FileType::File if linked.contains_key(&z.object) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                t.append_link(&mut h, name, &linked[&z.object])
            }
            FileType::File => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(z.size);
                let rd = FileReader::new(fs, n.dnode.clone(), z.size);
                let r = t.append_data(&mut h, name, pb.wrap_read(rd));
                if r.is_ok() {
                    linked.insert(z.object, name.to_path_buf());
                }
                r
            }
            FileType::Symlink => match fs.readlink(&n.dnode, z) {
                Ok(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    t.append_link(
                        &mut h,
                        name,
                        Path::new(std::ffi::OsStr::from_bytes(&target)),
                    )
                }
                Err(e) => Err(std::io::Error::other(e.to_string())),
            },
            FileType::Chardev | FileType::Blockdev | FileType::Fifo => {
                h.set_entry_type(match z.file_type() {
                    FileType::Chardev => tar::EntryType::Char,
                    FileType::Blockdev => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                let (ma, mi) = z.device();
                let _ = h.set_device_major(ma as u32);
                let _ = h.set_device_minor(mi as u32);
                h.set_size(0);
                t.append_data(&mut h, name, std::io::empty())
            }
            other => Err(std::io::Error::other(format!(
                "{other:?} cannot be stored in tar"
            ))),
        };
        if let Err(e) = r {
            // a failed file body leaves the archive inconsistent: stop
            if z.file_type() == FileType::File {
                return Err(Error::Corrupt {
                    structure: format!("file {}", String::from_utf8_lossy(&n.path)),
                    offset: 0,
                    detail: e.to_string(),
                });
            }
            errors.push(format!("{}: {e}", String::from_utf8_lossy(&n.path)));
        }
    }
    t.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(|e| io("finish tar", e))?;
    pb.finish_and_clear();
    Ok(())
}

/// Runs the subcommand.
pub fn run(args: &ExportArgs) -> Result<u8> {
    let (targets, spec) = super::ls::targets_and_spec(&args.args);
    let (ds, path) = split_spec(spec);
    let o = args.pool.open(targets)?;
    let fs = open_fs(&o, &ds)?;
    let start = fs.lookup(&path)?;
    let mut errors = Vec::new();
    let nodes = collect(&fs, start, &mut errors);
    if let Some(dir) = &args.to {
        to_dir(&fs, &nodes, dir, &mut errors)?;
    } else if let Some(tarpath) = &args.tar {
        let out: Box<dyn Write> = if tarpath.as_os_str() == "-" {
            Box::new(std::io::BufWriter::new(std::io::stdout()))
        } else {
            Box::new(std::io::BufWriter::new(
                File::create(tarpath)
                    .map_err(|e| io(format!("create {}", tarpath.display()), e))?,
            ))
        };
        to_tar(&fs, &nodes, out, &mut errors)?;
    }
    for e in &errors {
        eprintln!("kzrescue: {e}");
    }
    let unverified = fs
        .pool
        .stats
        .unverified
        .load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "kzrescue: exported {} paths, {} problems{}",
        nodes.len(),
        errors.len(),
        if unverified > 0 {
            format!(
                ", {unverified} blocks read unverified (a checksum kzrescue does not compute, or none)"
            )
        } else {
            String::new()
        }
    );
    Ok(if errors.is_empty() {
        super::EXIT_OK
    } else {
        super::EXIT_PROBLEMS
    })
}
