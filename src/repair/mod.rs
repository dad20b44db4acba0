//! Offline repairs: plan exact byte edits, journal them, apply them safely.
//!
//! The flow is one-way: a plan ([`plan`]) lists, per target, the byte ranges
//! to replace in phases; a [`transaction::Transaction`] — the one way every
//! writer writes — runs the preflight, the [`liveness`] check (which refuses
//! pools that something is still writing to), and then [`apply`]: the undo
//! [`journal`] first, then writes, flushes and read-backs phase by phase.

pub mod apply;
pub mod journal;
pub mod liveness;
pub mod plan;
pub mod transaction;
pub mod zone;
