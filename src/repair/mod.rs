//! Offline repairs: plan exact byte edits, journal them, apply them safely.
//!
//! The flow is one-way: a plan ([`plan`]) lists, per target, the byte ranges
//! to replace in phases; [`apply`] checks them against the target, writes the
//! undo [`journal`] and only then writes, flushes and reads back phase by
//! phase. [`liveness`] refuses pools that something is still writing to.

pub mod apply;
pub mod journal;
pub mod liveness;
pub mod plan;
