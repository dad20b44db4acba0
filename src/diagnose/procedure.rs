//! What makes a rolled-back zone boot again when its host data is Oracle's:
//! the documented steps around `zfs rollback`, filled in from the zone's
//! configuration. kzrescue runs none of them except its own (the labels).

use crate::shell::quote;
use crate::source::uri::{IscsiLu, StorageUri};
use serde::Serialize;

/// One step of the post-rollback procedure of a zone whose host data is
/// Oracle's. The commands are Oracle's documented ones (README, "After a
/// rollback"); kzrescue runs none of them except its own.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProcedureStep {
    /// Step number, from 1.
    pub step: usize,
    /// Where it runs: `storage` (the system serving the zvol/LU), `host`
    /// (the zone's Solaris host) or `kzrescue`.
    pub on: &'static str,
    /// The command, filled in where the configuration says; `<…>` marks what
    /// only the admin knows.
    pub command: String,
    /// Why, in one sentence.
    pub why: String,
    /// Whether kzrescue does this step itself (the labels).
    pub kzrescue_does_it: bool,
    /// The documentation the step follows.
    pub source: &'static str,
}

const DOC_ROLLBACK: &str = "Oracle, Managing Devices in Oracle Solaris 11.4, \"How to Perform ZFS Rollback\" (https://docs.oracle.com/cd/E37838_01/html/E61015/graoz.html)";
const DOC_STMFADM: &str =
    "stmfadm(8) (https://docs.oracle.com/cd/E88353_01/html/E72487/stmfadm-8.html)";
const DOC_HOSTDATA: &str = "Oracle, Creating and Using Oracle Solaris Kernel Zones, \"Kernel Zone Host Data and Host ID\" (https://docs.oracle.com/cd/E53394_01/html/E54751/gocho.html)";
const DOC_ZONEADM: &str =
    "zoneadm(8) (https://docs.oracle.com/cd/E88353_01/html/E72487/zoneadm-8.html)";

/// The steps being collected, numbered as they are added.
#[derive(Default)]
struct Steps(Vec<ProcedureStep>);

impl Steps {
    fn add(&mut self, on: &'static str, command: String, why: &str, source: &'static str) {
        self.0.push(ProcedureStep {
            step: self.0.len() + 1,
            on,
            command,
            why: why.to_string(),
            kzrescue_does_it: on == "kzrescue",
            source,
        })
    }
}

/// The post-rollback procedure for zone `zone` whose boot devices are
/// `storage` (configured URIs): with an iSCSI/FC LU, the COMSTAR steps
/// around `zfs rollback` on the storage server; with a local zvol, the
/// rollback alone; then the labels (kzrescue) and the host data and boot
/// (the Solaris host).
pub fn post_rollback_procedure(
    zone: &str,
    storage: &[String],
    repair_cmd: &str,
) -> Vec<ProcedureStep> {
    let mut s = Steps::default();
    s.add(
        "host",
        format!("zoneadm -z {} halt", quote(zone)),
        "the zone must not run while its storage is rolled back",
        DOC_ZONEADM,
    );
    for uri in storage {
        storage_steps(&mut s, uri);
    }
    s.add(
        "kzrescue",
        repair_cmd.to_string(),
        "the vdev labels: phys_path/path as the zone sees its boot device (what kzrescue checks and repairs offline, journalled)",
        "README, The safety model",
    );
    s.add(
        "host",
        format!("zoneadm -z {} detach", quote(zone)),
        "attach works on a detached (configured) zone; skip this if zoneadm list -cv already shows the zone as configured",
        DOC_ZONEADM,
    );
    s.add(
        "host",
        format!("zoneadm -z {} attach -x initialize-hostdata", quote(zone)),
        "the rolled-back disk carries the host data of the snapshot's time, sealed under a key the host may no longer have: new host data (use -x force-takeover instead when the key is intact and only the owner changed); both defeat the in-use check, so be sure the zone runs nowhere else",
        DOC_HOSTDATA,
    );
    s.add(
        "host",
        format!("zoneadm -z {} boot", quote(zone)),
        "boot the zone",
        DOC_ZONEADM,
    );
    s.0
}

/// The storage-side steps for one boot device's URI.
fn storage_steps(s: &mut Steps, uri: &str) {
    let parsed = StorageUri::parse(uri).ok();
    match &parsed {
        Some(StorageUri::Iscsi {
            lu: IscsiLu::Luname { luname },
            ..
        })
        | Some(StorageUri::Lu { luname, .. }) => {
            lu_steps(s, uri, &luname.id.to_ascii_uppercase());
        }
        Some(StorageUri::Iscsi { .. }) => lu_steps(s, uri, "<LU GUID>"),
        _ => {
            let zvol = match &parsed {
                Some(StorageUri::Dev { path }) => path
                    .strip_prefix("zvol/dsk/")
                    .or_else(|| path.strip_prefix("zvol/rdsk/"))
                    .map(str::to_string),
                _ => None,
            };
            let z = zvol.unwrap_or_else(|| "<pool>/<zvol>".into());
            s.add(
                "storage",
                format!("zfs rollback {z}@<snapshot>"),
                &format!("the rollback of the zvol behind {uri}"),
                DOC_ROLLBACK,
            );
        }
    }
}

/// The COMSTAR steps around the rollback of the zvol behind LU `g`.
fn lu_steps(s: &mut Steps, uri: &str, g: &str) {
    s.add(
        "storage",
        format!("stmfadm delete-lu -k {g}"),
        &format!(
            "unload the LU behind {uri} from COMSTAR while keeping its views (-k); its data stays intact"
        ),
        DOC_ROLLBACK,
    );
    s.add(
        "storage",
        "zfs rollback <pool>/<zvol backing the LU>@<snapshot>".to_string(),
        "the rollback itself",
        DOC_ROLLBACK,
    );
    s.add(
        "storage",
        "stmfadm import-lu /dev/zvol/rdsk/<pool>/<zvol backing the LU>".to_string(),
        &format!(
            "re-register the LU from the metadata on the zvol: it comes back with the same GUID {g}, so the zone's storage URI still names it"
        ),
        DOC_ROLLBACK,
    );
    s.add(
        "storage",
        format!("stmfadm list-view -l {g}   # only if no view is listed: stmfadm add-view {g}"),
        "the views kept by delete-lu -k make the LU visible to the host again; add-view is needed only if they were lost",
        DOC_STMFADM,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iscsi_lu_steps_carry_the_guid_and_say_who_does_what() {
        let s = post_rollback_procedure(
            "kz1",
            &["iscsi://10.0.0.5/luname.naa.600144f0a613c900000054521d550001".to_string()],
            "kzrescue repair --zone-config kz1.cfg --write",
        );
        let cmds: Vec<&str> = s.iter().map(|p| p.command.as_str()).collect();
        assert_eq!(cmds[0], "zoneadm -z kz1 halt");
        assert_eq!(
            cmds[1],
            "stmfadm delete-lu -k 600144F0A613C900000054521D550001"
        );
        assert!(cmds[2].starts_with("zfs rollback "));
        assert!(cmds[3].starts_with("stmfadm import-lu /dev/zvol/rdsk/"));
        assert!(cmds[4].contains("add-view 600144F0A613C900000054521D550001"));
        assert_eq!(
            s.iter().filter(|p| p.kzrescue_does_it).count(),
            1,
            "only the labels are kzrescue's"
        );
        assert!(cmds.contains(&"zoneadm -z kz1 attach -x initialize-hostdata"));
        assert_eq!(cmds.last(), Some(&"zoneadm -z kz1 boot"));
        assert!(s.iter().enumerate().all(|(i, p)| p.step == i + 1));
        // A local zvol: the rollback alone, named from the URI.
        let z = post_rollback_procedure(
            "kz1",
            &["dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0".to_string()],
            "kzrescue repair --write",
        );
        assert!(
            z.iter()
                .any(|p| p.command == "zfs rollback rpool/VARSHARE/zones/kz1/disk0@<snapshot>")
        );
        assert!(!z.iter().any(|p| p.command.starts_with("stmfadm")));
    }
}
