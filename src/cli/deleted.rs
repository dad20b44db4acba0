//! `kzrescue deleted <targets…> DATASET [--since TXG|@SNAP]`: files an
//! older state of the dataset holds and its head does not, and objects no
//! directory reaches; with the command that recovers each.

use super::datasets::emit;
use super::timeline::{DeviceArgs, json, when};
use kzrescue::Result;
use kzrescue::forensic::deleted::{DeletedFile, DeletedQuery, DeletedReport, StateRef, deleted};
use kzrescue::forensic::objects::{BlockCheck, Integrity};

/// Arguments of `kzrescue deleted`.
#[derive(clap::Args, Debug)]
pub struct DeletedArgs {
    /// The pool's devices (image files, block devices or storage URIs), then the dataset (`pool/fs`).
    #[arg(required = true, num_args = 2.., value_name = "TARGET… DATASET")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub dev: DeviceArgs,
    /// Only older states from this txg, or this snapshot `@SNAP`, on.
    #[arg(long, value_name = "TXG|@SNAP")]
    pub since: Option<String>,
    /// Print JSON (schema `kzrescue.deleted/2`; integers as strings unless
    /// --json-int).
    #[arg(long)]
    pub json: bool,
}

fn state(s: &StateRef) -> String {
    match &s.snapshot {
        Some(n) => format!("{n} (txg {})", s.txg),
        None => format!("txg {} ({})", s.txg, when(&s.when)),
    }
}

fn verdict(i: Integrity, b: &BlockCheck) -> String {
    match i {
        Integrity::Good => format!("good: {} blocks verified", b.verified + b.embedded),
        Integrity::Unverified => format!(
            "unverified: {} of {} blocks carry no checksum kzrescue computes",
            b.unverified, b.blocks
        ),
        Integrity::Damaged => format!(
            "DAMAGED: {} of {} blocks fail{}",
            b.bad,
            b.blocks,
            b.first_error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ),
    }
}

fn quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-@:+=,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The summary of a report: head, states examined, counts.
fn summary(r: &DeletedReport) -> Result<()> {
    emit(&format!(
        "Deleted files of {} (pool {} on {})",
        r.dataset,
        r.pool,
        r.devices.join(", ")
    ))?;
    emit(&format!("  head: {}", state(&r.head)))?;
    let readable = r.states.iter().filter(|s| s.readable).count();
    emit(&format!(
        "  older states examined: {} ({} readable)",
        r.states.len(),
        readable
    ))?;
    for s in &r.states {
        emit(&format!(
            "    {}: {}",
            state(&s.state),
            match &s.problem {
                Some(p) => format!("does not read: {p}"),
                None => format!("{} deleted files first seen here", s.found),
            }
        ))?;
    }
    let c = &r.counts;
    emit(&format!(
        "  {} deleted: {} good, {} unverified, {} damaged; {} orphans",
        c.deleted, c.good, c.unverified, c.damaged, c.orphans
    ))?;
    if !r.errors.is_empty() {
        emit(&format!(
            "  NOT VERIFIED: {} reads failed (on stderr); what they hide is not listed",
            r.errors.len()
        ))?;
    }
    Ok(())
}

/// One deleted file's lines, with the command that recovers it from the
/// devices `devs`.
fn file(r: &DeletedReport, d: &DeletedFile, devs: &str) -> Result<()> {
    emit("")?;
    emit(&format!(
        "{} (object {}, {:?}, {} bytes, mode {}, uid {} gid {})",
        d.path.as_deref().unwrap_or("(no path)"),
        d.object,
        d.kind,
        d.size,
        d.mode,
        d.uid,
        d.gid
    ))?;
    emit(&format!(
        "  created txg {}, mtime {}, last seen {}, gone by {}",
        d.generation,
        super::timeline::utc_signed(d.mtime),
        state(&d.last_seen),
        state(&d.gone_by)
    ))?;
    emit(&format!("  {}", verdict(d.integrity, &d.blocks)))?;
    let spec = match &d.last_seen.snapshot {
        Some(s) => quote(s),
        None => format!("{} --txg {}", quote(&r.dataset), d.last_seen.txg),
    };
    emit(&format!(
        "  recover: kzrescue export {devs} {spec} --object {} --to DIR",
        d.object
    ))
}

/// The orphans' lines.
fn orphans(r: &DeletedReport, devs: &str) -> Result<()> {
    if r.orphans.is_empty() {
        return Ok(());
    }
    emit("")?;
    emit("Objects no directory reaches:")?;
    for o in &r.orphans {
        emit(&format!(
            "  object {} ({:?}, {} bytes, {} links, parent {}){}{}: {}",
            o.object,
            o.kind,
            o.size,
            o.links,
            o.parent,
            if o.in_delete_queue {
                ", in the delete queue"
            } else {
                ""
            },
            o.last_path
                .as_ref()
                .map(|p| format!(", was {p}"))
                .unwrap_or_default(),
            verdict(o.integrity, &o.blocks)
        ))?;
        emit(&format!(
            "    recover: kzrescue export {devs} {} --object {} --to DIR",
            quote(&r.dataset),
            o.object
        ))?;
    }
    Ok(())
}

/// Runs the subcommand.
pub fn run(args: &DeletedArgs) -> Result<u8> {
    let (targets, dataset) = kzrescue::read::split_targets(&args.args);
    let h = args.dev.history(targets)?;
    let since = args
        .since
        .as_deref()
        .map(kzrescue::forensic::Since::parse)
        .transpose()?;
    let r = deleted(
        &h,
        &DeletedQuery {
            dataset: dataset.to_string(),
            since,
        },
    )?;
    if args.json {
        json(&r)?;
    } else {
        let devs: Vec<String> = targets.iter().map(|t| quote(t)).collect();
        let devs = devs.join(" ");
        summary(&r)?;
        for d in &r.deleted {
            file(&r, d, &devs)?;
        }
        orphans(&r, &devs)?;
        super::timeline::say(&r.notes, &r.errors);
    }
    Ok(super::timeline::exit(&r.errors))
}
