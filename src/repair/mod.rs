//! Offline repairs: plan exact byte edits, journal them, apply them safely.
//!
//! The flow is one-way: a plan ([`plan`]) lists, per target, the byte ranges
//! to replace in phases; a [`transaction::Transaction`] — the one way every
//! writer writes — runs the preflight, the [`liveness`] check (which refuses
//! pools that something is still writing to), and then [`apply`]: the undo
//! [`journal`] first, then writes, flushes and read-backs phase by phase.

pub mod apply;
pub mod hostdata;
pub mod journal;
pub mod liveness;
pub mod physpath;
pub mod plan;
pub mod report;
pub mod transaction;
pub mod undo;

use crate::error::Error;

/// `e` with its text annotated and its kind kept: `prefix` before the
/// first part of the message (the step a failure happened in,
/// `"preflight: "`), `suffix` after the last (what was already written and
/// how to undo it). The one annotating helper of the writers.
pub(crate) fn annotate(e: Error, prefix: &str, suffix: &str) -> Error {
    match e {
        Error::Io { context, source } => Error::Io {
            context: format!("{prefix}{context}{suffix}"),
            source,
        },
        Error::Corrupt {
            structure,
            offset,
            detail,
        } => Error::Corrupt {
            structure: format!("{prefix}{structure}"),
            offset,
            detail: format!("{detail}{suffix}"),
        },
        Error::OutOfBounds {
            what,
            offset,
            len,
            size,
        } => Error::OutOfBounds {
            what: format!("{prefix}{what}{suffix}"),
            offset,
            len,
            size,
        },
        Error::Unsupported { structure, detail } => Error::Unsupported {
            structure: format!("{prefix}{structure}"),
            detail: format!("{detail}{suffix}"),
        },
        Error::Refused(s) => Error::Refused(format!("{prefix}{s}{suffix}")),
        Error::Usage(s) => Error::Usage(format!("{prefix}{s}{suffix}")),
    }
}
