//! The stable codes of diagnosis findings.
//!
//! A code names one outcome of one check and never changes meaning: scripts
//! key on it (`KZ-PHYS-001`) instead of the sentence, which may be reworded.
//! `-000` is the check's "passed"; higher numbers are what it can find wrong.
//! The README's table "Diagnosis findings" lists each code with the field or
//! rule it rests on and the command that fixes it; a unit test keeps the two
//! in step.

use serde::{Serialize, Serializer};

macro_rules! codes {
    ($($(#[doc = $doc:literal])+ $v:ident = $code:literal, $check:literal;)*) => {
        /// The stable code of a finding.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($(#[doc = $doc])+ $v,)*
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$v),*];

            /// The code as printed and in JSON (`KZ-PHYS-001`).
            pub fn code(self) -> &'static str {
                match self {
                    $(Code::$v => $code,)*
                }
            }

            /// The check that produces it (`phys_path`, `labels`, …): the
            /// `check` field of the finding.
            pub fn check(self) -> &'static str {
                match self {
                    $(Code::$v => $check,)*
                }
            }
        }
    };
}

codes! {
    /// The zone's brand is not solaris-kz.
    ConfNotKernelZone = "KZ-CONF-001", "config";
    /// The configuration has no boot device (no `device` with `bootpri`).
    ConfNoBootDevice = "KZ-CONF-002", "config";
    /// A boot device's storage cannot be expanded (template token, no storage).
    ConfStorage = "KZ-CONF-003", "config";
    /// A boot device has no `id`, so its guest path is unknown.
    ConfNoId = "KZ-CONF-004", "config";
    /// A boot device (or its `--map` copy) cannot be opened or read as a vdev.
    OpenFailed = "KZ-OPEN-001", "open";
    /// The partition table gives the pool's slice.
    PartOk = "KZ-PART-000", "partition";
    /// The device has no partition table.
    PartNone = "KZ-PART-001", "partition";
    /// A scan is the next step: it found no label, or a table that disagrees.
    RecovScan = "KZ-RECOV-001", "recovery";
    /// The partition table does not describe the pool a scan found: restore it.
    RecovRestoreTable = "KZ-RECOV-002", "recovery";
    /// Labels of the vdev a scan found are damaged: rebuild them.
    RecovRepairLabels = "KZ-RECOV-003", "recovery";
    /// A note of the scan (it failed, or found several vdevs).
    RecovNote = "KZ-RECOV-004", "recovery";
    /// All four labels are valid.
    LabelOk = "KZ-LABEL-000", "labels";
    /// Some labels are invalid, enough remain for a rewrite.
    LabelSomeBad = "KZ-LABEL-001", "labels";
    /// Fewer valid labels than kzrescue rewrites without --force.
    LabelTooFew = "KZ-LABEL-002", "labels";
    /// No valid label: not (or no longer) a pool disk.
    LabelNone = "KZ-LABEL-003", "labels";
    /// Valid labels disagree with each other.
    LabelDisagree = "KZ-LABEL-004", "labels";
    /// The pool's state and last importing host, from the labels.
    PoolState = "KZ-POOL-000", "pool";
    /// The labels mark the pool destroyed.
    PoolDestroyed = "KZ-POOL-001", "pool";
    /// A zvol boot device not reachable here: the commands that lend it over iSCSI.
    RouteZvol = "KZ-ROUTE-001", "zvol-route";
    /// The boot devices do not hold one pool.
    MirrorPools = "KZ-MIRROR-001", "mirror";
    /// A warning of the mirror-aware planner.
    MirrorWarning = "KZ-MIRROR-002", "mirror";
    /// The uberblock rings did not change over the interval.
    LiveQuiet = "KZ-LIVE-000", "liveness";
    /// The pool is being written (imported somewhere), or could not be watched.
    LiveActive = "KZ-LIVE-001", "liveness";
    /// phys_path and path are what the zone expects in every label.
    PhysOk = "KZ-PHYS-000", "phys_path";
    /// The leaf's phys_path is not the zone's zvblk path: the zone cannot find its root pool.
    PhysWrong = "KZ-PHYS-001", "phys_path";
    /// phys_path is right, the leaf's path is not the guest's.
    PhysPathWrong = "KZ-PHYS-002", "phys_path";
    /// phys_path and path are right; a host devid is left in the labels.
    PhysHostDevid = "KZ-PHYS-003", "phys_path";
    /// The labels cannot be rewritten safely (the planner refuses).
    PhysUnsafe = "KZ-PHYS-004", "phys_path";
    /// Host data: both copies valid under the zone's key.
    HostOk = "KZ-HOST-000", "hostdata";
    /// Host data: one copy serves, the other is missing, stale or damaged.
    HostDegraded = "KZ-HOST-001", "hostdata";
    /// The disk has no Solaris reserved partition for host data.
    HostNoReserved = "KZ-HOST-002", "hostdata";
    /// The zone uses kzrescue's host data and the disk has none.
    HostMissing = "KZ-HOST-003", "hostdata";
    /// The zone uses kzrescue's host data and the slots hold unknown bytes.
    HostUnknownBytes = "KZ-HOST-004", "hostdata";
    /// No kzrescue host data, both slots empty; the zone's is presumably Oracle's.
    HostOracleEmpty = "KZ-HOST-005", "hostdata";
    /// The slots hold data that is not kzrescue's (as Oracle's would).
    HostOracle = "KZ-HOST-006", "hostdata";
    /// Host data is present but the zone's key is not available.
    HostNoKey = "KZ-HOST-007", "hostdata";
    /// Host data is sealed under another key than the zone's key file.
    HostKeyIncorrect = "KZ-HOST-008", "hostdata";
    /// Neither host-data copy verifies under the zone's key.
    HostCorrupt = "KZ-HOST-009", "hostdata";
    /// Host data names another host as the owner.
    HostOtherOwner = "KZ-HOST-010", "hostdata";
    /// The host-data area cannot be read.
    HostUnreadable = "KZ-HOST-011", "hostdata";
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn codes_are_unique_well_formed_and_documented() {
        let readme = include_str!("../../README.md");
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            let s = c.code();
            assert!(seen.insert(s), "{s} twice");
            let parts: Vec<&str> = s.split('-').collect();
            assert_eq!(parts.len(), 3, "{s}");
            assert_eq!(parts[0], "KZ");
            assert!(parts[2].len() == 3 && parts[2].bytes().all(|b| b.is_ascii_digit()));
            assert!(
                readme.contains(&format!("| `{s}` |")),
                "{s} is not in the README's findings table"
            );
        }
    }
}
