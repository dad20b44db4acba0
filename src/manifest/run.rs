//! The `manifest` workflow over an opened pool: which datasets a manifest
//! covers, the manifest streamed while it is built ([`Streamed`]), and the
//! comparison of a snapshot with its dataset ([`compare`]).
//!
//! Progress (bytes hashed) goes to a callback that may be called from the
//! reading threads; what the user should know goes to a
//! [`Notice`] callback.

use super::build::{Options, Summary, stream};
use super::diff::{Diff, diff, merge};
use super::{BlockCounts, Entry, Manifest, SCHEMA, descendants, path_order, relative_dataset};
use crate::error::{Error, Result};
use crate::read::{Notice, open_fs};
use crate::zfs::spa::OpenPool;
use serde::ser::{Error as _, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};
use std::cell::RefCell;

/// Bytes hashed so far, reported from any thread.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// What a manifest is of.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    /// The pool.
    pub opened: &'a OpenPool,
    /// The dataset and every file system below it (with @SNAP: each one's
    /// snapshot of that name).
    pub recursive: bool,
    /// How files are read and hashed.
    pub opts: &'a Options,
    /// Bytes hashed.
    pub progress: Progress<'a>,
}

/// The datasets a manifest of `spec` covers; descendants that do not read
/// are [`Notice::Problem`]s. A dataset that does not exist is an error.
pub fn covered(
    o: &OpenPool,
    spec: &str,
    recursive: bool,
    notice: &mut dyn FnMut(Notice),
) -> Result<Vec<String>> {
    if !recursive {
        return Ok(vec![spec.to_string()]);
    }
    let (names, errors) = descendants(&o.mos, &o.pool, spec);
    for e in errors {
        notice(Notice::Problem(e));
    }
    if names.is_empty() {
        // name the missing dataset the way a plain manifest would
        open_fs(o, spec)?;
    }
    Ok(names)
}

/// Streams the entries of every dataset in `names` to `emit`; with
/// `recursive` a dataset that cannot be opened is an error in the summary.
pub fn stream_all(
    s: &Scope,
    names: &[String],
    emit: &mut dyn FnMut(Entry) -> Result<()>,
) -> Result<Summary> {
    let mut total = Summary::default();
    for name in names {
        let fs = match open_fs(s.opened, name) {
            Ok(fs) => fs,
            Err(e) if s.recursive => {
                total.errors.push(format!("dataset {name}: {e}"));
                continue;
            }
            Err(e) => return Err(e),
        };
        let label = s.recursive.then_some(name.as_str());
        let r = stream(&fs, label, s.opts, s.progress, emit)?;
        total.errors.extend(r.errors);
        total.blocks = total.blocks + r.blocks;
        total.entries += r.entries;
    }
    Ok(total)
}

/// One side of a comparison: its spec and the summary of its manifest.
pub struct Side {
    /// `DATASET[@SNAP]`.
    pub dataset: String,
    /// Read errors and blocks checked.
    pub summary: Summary,
}

/// A snapshot compared with its dataset: the difference and each side.
pub struct Compared {
    /// What differs.
    pub diff: Diff,
    /// The baseline (the snapshot).
    pub base: Side,
    /// The dataset now.
    pub now: Side,
}

/// Says that some of `dataset`'s blocks could not be checksum-verified:
/// their hashes in the manifest vouch for what is on disk, not for what
/// was written.
fn unverified(dataset: &str, b: BlockCounts) -> Option<Notice> {
    (b.unverified > 0).then(|| {
        Notice::Warning(format!(
            "{}: {} of {} blocks use a checksum kzrescue does not compute (or none) and were read unverified",
            dataset,
            b.unverified,
            b.verified + b.unverified
        ))
    })
}

impl Summary {
    /// What to say once the manifest of `dataset` is written: each read
    /// error, then the blocks read unverified.
    pub fn notices(&self, dataset: &str) -> Vec<Notice> {
        let errors = self.errors.iter().map(|e| Notice::Problem(e.clone()));
        errors.chain(unverified(dataset, self.blocks)).collect()
    }
}

impl Compared {
    /// What to say with the difference: both sides' read errors, then
    /// each side's blocks read unverified.
    pub fn notices(&self) -> Vec<Notice> {
        let (b, n) = (&self.base, &self.now);
        let errors = b.summary.errors.iter().chain(&n.summary.errors);
        errors
            .map(|e| Notice::Problem(e.clone()))
            .chain(unverified(&b.dataset, b.summary.blocks))
            .chain(unverified(&n.dataset, n.summary.blocks))
            .collect()
    }
}

/// The baseline of `--against @SNAP` for `dataset`: `DATASET@SNAP` of its
/// head (a leading `@` of `snap` optional).
pub fn baseline(dataset: &str, snap: &str) -> String {
    let head = dataset.split('@').next().unwrap_or(dataset);
    format!("{head}@{}", snap.trim_start_matches('@'))
}

/// Compares the manifest of `base_spec` (the baseline) with that of
/// `now_spec`: both built at once, half the jobs each, merged as they are
/// finished so memory holds the differences, not the manifests; when a
/// side's entries are not in walk order (two names made equal by lossy
/// UTF-8) the whole manifests are built and compared.
pub fn compare(
    s: &Scope,
    base_spec: &str,
    now_spec: &str,
    notice: &mut dyn FnMut(Notice),
) -> Result<Compared> {
    if let Some(c) = against(s, base_spec, now_spec, notice)? {
        return Ok(c);
    }
    let base = collect(s, base_spec, notice)?;
    let now = collect(s, now_spec, notice)?;
    let side = |m: Manifest| Side {
        dataset: m.dataset,
        summary: Summary {
            errors: m.errors,
            blocks: m.blocks,
            entries: m.entries.len() as u64,
        },
    };
    Ok(Compared {
        diff: diff(&base, &now),
        base: side(base),
        now: side(now),
    })
}

/// The streamed comparison of [`compare`]; `None` when a side is out of
/// walk order.
fn against(
    s: &Scope,
    base_spec: &str,
    now_spec: &str,
    notice: &mut dyn FnMut(Notice),
) -> Result<Option<Compared>> {
    // datasets in the order of the merge's key: relative name, walk order
    let mut ordered = |spec: &str| -> Result<Vec<String>> {
        let mut names = covered(s.opened, spec, s.recursive, notice)?;
        names.sort_by(|a, b| path_order(&relative_dataset(spec, a), &relative_dataset(spec, b)));
        Ok(names)
    };
    let (base_names, now_names) = (ordered(base_spec)?, ordered(now_spec)?);
    let half_opts = Options {
        jobs: (s.opts.jobs / 2).max(1),
        ..s.opts.clone()
    };
    let half = Scope {
        opts: &half_opts,
        ..*s
    };
    std::thread::scope(|sc| {
        let side = |names: Vec<String>| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Entry>(1024);
            let half = &half;
            let h = sc.spawn(move || {
                stream_all(half, &names, &mut |e| {
                    // the merge stopped early (out of order): stop too
                    tx.send(e)
                        .map_err(|_| Error::Usage("manifest merge stopped".into()))
                })
            });
            (rx, h)
        };
        let (rb, hb) = side(base_names);
        let (rn, hn) = side(now_names);
        let merged = merge(base_spec, now_spec, rb.iter().map(Ok), rn.iter().map(Ok));
        // dropping the receivers stops a side the merge did not finish
        drop((rb, rn));
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<Summary>>| {
            h.join()
                .unwrap_or_else(|_| Err(Error::Usage("a manifest thread panicked".into())))
        };
        let (sb, sn) = (join(hb), join(hn));
        match merged? {
            Ok(diff) => Ok(Some(Compared {
                diff,
                base: Side {
                    dataset: base_spec.into(),
                    summary: sb?,
                },
                now: Side {
                    dataset: now_spec.into(),
                    summary: sn?,
                },
            })),
            Err(_) => Ok(None),
        }
    })
}

/// A whole manifest of `spec` in memory.
pub fn collect(s: &Scope, spec: &str, notice: &mut dyn FnMut(Notice)) -> Result<Manifest> {
    let names = covered(s.opened, spec, s.recursive, notice)?;
    let mut entries = Vec::new();
    let r = stream_all(s, &names, &mut |e| {
        entries.push(e);
        Ok(())
    })?;
    Ok(Manifest {
        schema: SCHEMA.into(),
        pool: s.opened.pool.name.clone(),
        dataset: spec.into(),
        recursive: s.recursive,
        txg: s.opened.uberblock.txg,
        entries,
        errors: r.errors,
        blocks: r.blocks,
        max_file_size: Some(s.opts.max_file_size),
    })
}

/// A manifest document serialised while it is built: `entries` is written
/// entry by entry as the pipeline finishes them, then `errors` and
/// `blocks` from its summary. After serialising, [`Streamed::finish`]
/// gives the summary, or the error that stopped the build.
pub struct Streamed<'a> {
    scope: Scope<'a>,
    dataset: &'a str,
    names: Vec<String>,
    summary: RefCell<Option<Summary>>,
    failure: RefCell<Option<Error>>,
}

impl<'a> Streamed<'a> {
    /// The manifest of `dataset` (and with `scope.recursive` its
    /// descendants), to be serialised.
    pub fn new(
        scope: Scope<'a>,
        dataset: &'a str,
        notice: &mut dyn FnMut(Notice),
    ) -> Result<Streamed<'a>> {
        Ok(Streamed {
            names: covered(scope.opened, dataset, scope.recursive, notice)?,
            scope,
            dataset,
            summary: RefCell::new(None),
            failure: RefCell::new(None),
        })
    }

    /// After serialising: the build's summary, or the error that stopped
    /// it (before the writer's own error).
    pub fn finish(&self, written: Result<()>) -> Result<Summary> {
        if let Some(e) = self.failure.borrow_mut().take() {
            return Err(e);
        }
        written?;
        Ok(self.summary.borrow_mut().take().unwrap_or_default())
    }
}

impl Serialize for Streamed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let o = self.scope.opened;
        let mut st = s.serialize_struct("Manifest", 9)?;
        st.serialize_field("schema", SCHEMA)?;
        st.serialize_field("pool", &o.pool.name)?;
        st.serialize_field("dataset", self.dataset)?;
        if self.scope.recursive {
            st.serialize_field("recursive", &true)?;
        }
        st.serialize_field("txg", &o.uberblock.txg)?;
        st.serialize_field("entries", &Entries(self))?;
        let summary = self.summary.borrow();
        let (errors, blocks) = match summary.as_ref() {
            Some(s) => (&s.errors[..], s.blocks),
            None => (&[][..], BlockCounts::default()),
        };
        st.serialize_field("errors", errors)?;
        st.serialize_field("blocks", &blocks)?;
        st.serialize_field("max_file_size", &self.scope.opts.max_file_size)?;
        st.end()
    }
}

struct Entries<'d, 'a>(&'d Streamed<'a>);

impl Serialize for Entries<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let d = self.0;
        let mut seq = s.serialize_seq(None)?;
        let mut write_error = None;
        let r = stream_all(&d.scope, &d.names, &mut |e| {
            seq.serialize_element(&e).map_err(|e| {
                let m = e.to_string();
                write_error = Some(e);
                Error::io("write stdout", std::io::Error::other(m))
            })
        });
        match r {
            Ok(summary) => *d.summary.borrow_mut() = Some(summary),
            Err(e) => {
                let m = e.to_string();
                *d.failure.borrow_mut() = Some(e);
                return Err(write_error.unwrap_or_else(|| S::Error::custom(m)));
            }
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_then_unverified_blocks_are_said() {
        let s = Summary {
            errors: vec!["/a: bad".into()],
            blocks: BlockCounts {
                verified: 3,
                unverified: 1,
                repaired: 0,
            },
            entries: 2,
        };
        assert_eq!(
            s.notices("p/fs"),
            [
                Notice::Problem("/a: bad".into()),
                Notice::Warning(
                    "p/fs: 1 of 4 blocks use a checksum kzrescue does not compute (or none) and were read unverified"
                        .into()
                )
            ]
        );
        assert!(Summary::default().notices("p/fs").is_empty());
    }

    #[test]
    fn baseline_of_against() {
        assert_eq!(baseline("rpool/ROOT", "@s1"), "rpool/ROOT@s1");
        assert_eq!(baseline("rpool/ROOT@old", "s1"), "rpool/ROOT@s1");
    }
}
