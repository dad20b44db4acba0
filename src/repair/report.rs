//! What a committed writer reports about its liveness check, as the
//! writers' JSON documents carry it and as their text output prints it.

use super::liveness::{DeviceLiveness, Quiet};
use std::fmt::Write as _;

/// The liveness check of a transaction: the wait, how long each read of
/// all uberblock rings took, the best txg, and per device how it was read
/// and what its labels say.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LivenessReport {
    /// The best (active) uberblock txg over all devices, if any verifies.
    pub best_txg: Option<u64>,
    /// Per device, in the order watched.
    pub devices: Vec<DeviceLiveness>,
    /// Milliseconds the first read of all rings took.
    pub first_read_ms: f64,
    /// Seconds between the two reads.
    pub interval_s: f64,
    /// Milliseconds the second read took.
    pub second_read_ms: f64,
}

impl LivenessReport {
    /// The report of the check `q`.
    pub fn of(q: &Quiet) -> LivenessReport {
        LivenessReport {
            best_txg: q.best_txg,
            devices: q.devices.clone(),
            first_read_ms: q.first_read.as_secs_f64() * 1e3,
            interval_s: q.interval.as_secs_f64(),
            second_read_ms: q.second_read.as_secs_f64() * 1e3,
        }
    }
}

/// The liveness check as text: a line saying the rings did not change,
/// then one line per device (how it was read) and its label evidence.
pub fn liveness_text(q: &Quiet) -> String {
    let mut s = format!(
        "liveness: the uberblock rings did not change in {:.1} s (best txg {})\n",
        q.interval.as_secs_f64(),
        q.best_txg.map_or("none".into(), |t| t.to_string())
    );
    for d in &q.devices {
        let _ = writeln!(s, "  {} read by {}", d.name, d.read_detail);
        for e in d.evidence(None) {
            let _ = writeln!(s, "  note: {e}");
        }
    }
    s
}

/// A writer's JSON document as `serde_json::Value`, keys in alphabetical
/// order (as the writers' documents have always printed them).
pub fn sorted_json(doc: &impl serde::Serialize) -> crate::error::Result<serde_json::Value> {
    serde_json::to_value(doc).map_err(|e| crate::error::Error::Usage(format!("JSON output: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn text_and_report_say_the_same() {
        let q = Quiet {
            best_txg: Some(42),
            first_read: Duration::from_millis(3),
            second_read: Duration::from_millis(2),
            interval: Duration::from_millis(1500),
            devices: vec![DeviceLiveness {
                name: "d.img".into(),
                read: "direct".into(),
                read_detail: "O_DIRECT".into(),
                pool_state: Some(1),
                hostid: None,
                hostname: None,
                mmp: None,
            }],
        };
        assert_eq!(
            liveness_text(&q),
            "liveness: the uberblock rings did not change in 1.5 s (best txg 42)\n  d.img read by O_DIRECT\n"
        );
        let r = LivenessReport::of(&q);
        assert_eq!(
            (r.best_txg, r.interval_s, r.first_read_ms),
            (Some(42), 1.5, 3.0)
        );
        assert_eq!(r.devices, q.devices);
    }
}
