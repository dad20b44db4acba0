//! The text of `kzrescue diagnose`: a [`Diagnosis`] for a person.

use super::{Diagnosis, EXIT_HEALTHY, EXIT_LIVE, EXIT_REPAIRABLE, Severity};
use std::fmt::Write;

/// The four-letter column a finding's severity is shown in.
fn tag(s: Severity) -> &'static str {
    match s {
        Severity::Ok => " ok ",
        Severity::Info => "info",
        Severity::Warning => "warn",
        Severity::Repairable => "FIX ",
        Severity::Unrepairable => "FAIL",
    }
}

impl Diagnosis {
    /// The diagnosis as `kzrescue diagnose` prints it: the zone, each device
    /// with its findings, the zone-wide findings, the steps after a
    /// rollback, and the verdict with the exit code.
    pub fn text(&self) -> String {
        let d = self;
        let mut s = String::new();
        // writing into a String cannot fail
        let _ = writeln!(
            s,
            "zone {} (brand {}), {} boot device(s)",
            d.zone.as_deref().unwrap_or("?"),
            d.brand.as_deref().unwrap_or("?"),
            d.devices.len()
        );
        let findings = |s: &mut String, dev: Option<u32>| {
            for f in d.findings.iter().filter(|f| f.device == dev) {
                let _ = writeln!(
                    s,
                    "  [{}] {:<10} {} {}",
                    tag(f.severity),
                    f.check,
                    f.code,
                    f.message
                );
                if let Some(fix) = &f.fix {
                    let _ = writeln!(s, "         {:<10} {:<12} fix: {fix}", "", "");
                }
            }
        };
        for r in &d.devices {
            s.push('\n');
            let id = r.id.map_or("?".into(), |i| i.to_string());
            let _ = writeln!(
                s,
                "device {id} (bootpri {}): {}",
                r.bootpri.map_or("-".into(), |b| b.to_string()),
                r.storage
            );
            if let Some(o) = &r.opened
                && *o != r.storage
            {
                let _ = writeln!(s, "  opened as {o}");
            }
            if let Some(e) = &r.expected_phys_path {
                let _ = writeln!(s, "  the zone expects phys_path {e}");
            }
            findings(&mut s, r.id);
        }
        if d.findings.iter().any(|f| f.device.is_none()) {
            s.push_str("\nzone-wide\n");
            findings(&mut s, None);
        }
        if !d.post_rollback.is_empty() {
            let _ = writeln!(
                s,
                "\nafter a rollback (host data {}): what makes the zone boot again",
                d.hostdata_format
            );
            for p in &d.post_rollback {
                let _ = writeln!(
                    s,
                    "  {}. [{}{}] {}",
                    p.step,
                    p.on,
                    if p.kzrescue_does_it {
                        ", kzrescue does this"
                    } else {
                        ""
                    },
                    p.command
                );
                let _ = writeln!(s, "       {}", p.why);
            }
        }
        s.push('\n');
        let n_fix = d.repairable().count();
        let n_fail = d
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Unrepairable)
            .count();
        let verdict = match d.exit_code {
            EXIT_HEALTHY => "healthy: nothing to repair".to_string(),
            EXIT_REPAIRABLE => format!("{n_fix} problem(s) that `kzrescue repair` can fix"),
            EXIT_LIVE => "the pool is live: nothing may be repaired now".to_string(),
            _ => format!("{n_fail} problem(s) kzrescue cannot fix, {n_fix} it can"),
        };
        let _ = writeln!(s, "verdict: {verdict} (exit {})", d.exit_code);
        s
    }
}
