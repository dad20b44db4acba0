//! Kernel-zone host data in kzrescue's own container format.
//!
//! Oracle does not publish how Solaris stores host data, so this is
//! kzrescue's format (`formats/hostdata.md`), not Oracle's: Solaris
//! `zoneadm` cannot read what kzrescue writes, and kzrescue cannot read what
//! Solaris writes. Two copies live in the Solaris reserved partition
//! (slice 8) of a boot disk ([`store`]); each is a [`container`] sealing an
//! XDR nvlist [`payload`] with AES-128-CCM under the zone's key ([`keyfile`]).
//!
//! [`verdict`] turns the judgement of both copies into the one answer
//! `kzrescue hostdata check` gives.

pub mod container;
pub mod inspect;
pub mod keyfile;
pub mod payload;
pub mod store;

pub use keyfile::{HostKey, KeyFile, KeyId};
pub use payload::{HostData, SuspendInfo};
pub use store::{Assessment, CopyId, CopyState, Layout};

use crate::error::{Error, Result};
use crate::zfs::nvlist::xdr;

/// The 4 header bytes of the payload's packed nvlist: XDR encoding.
pub const PAYLOAD_HEADER: [u8; 4] = [1, 1, 0, 0];

/// Encodes a payload as an XDR packed nvlist.
pub fn payload_encode(data: &HostData) -> Result<Vec<u8>> {
    xdr::encode(PAYLOAD_HEADER, &data.to_nvlist())
}

/// Decodes an XDR packed nvlist payload.
pub fn payload_decode(bytes: &[u8]) -> Result<HostData> {
    let packed = xdr::decode(bytes)?;
    if packed.len != bytes.len() {
        return Err(Error::corrupt(
            "host data payload",
            packed.len as u64,
            format!(
                "{} bytes follow the packed nvlist",
                bytes.len() - packed.len
            ),
        ));
    }
    if packed.list.version != 0 || packed.list.nvflag != 1 {
        return Err(Error::corrupt(
            "host data payload",
            4,
            format!(
                "nvl_version {} / nvl_nvflag {} (must be 0 / 1)",
                packed.list.version, packed.list.nvflag
            ),
        ));
    }
    HostData::from_nvlist(&packed.list)
}

/// The one answer of `hostdata check`.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Both copies valid, same generation, and (if a hostid was given) owned
    /// by that host or by nobody.
    Healthy,
    /// A valid copy serves, but the other copy is missing, stale, damaged,
    /// tampered or under another key.
    Degraded {
        /// The copy that serves.
        serving: CopyId,
        /// The other one.
        bad: CopyId,
        /// Why the other one is not good.
        why: String,
    },
    /// The disk has no host data (or no place for it).
    NoHostData {
        /// Why.
        reason: String,
    },
    /// Host data is there but no key was given.
    KeyNotAvailable,
    /// Host data is sealed under another key.
    KeyIncorrect {
        /// Key id in the host data.
        stored: KeyId,
        /// Id of the given key.
        given: KeyId,
    },
    /// No copy can be used: each is corrupt or tampered.
    CorruptOrTampered,
    /// Valid host data naming another owner.
    OwnedByAnotherHost,
}

impl Verdict {
    /// The exit code of `hostdata check` for this verdict.
    pub fn exit_code(&self) -> u8 {
        match self {
            Verdict::Healthy => 0,
            Verdict::NoHostData { .. } => 10,
            Verdict::KeyNotAvailable => 11,
            Verdict::KeyIncorrect { .. } => 12,
            Verdict::CorruptOrTampered => 13,
            Verdict::OwnedByAnotherHost => 14,
            Verdict::Degraded { .. } => 15,
        }
    }

    /// A stable machine-readable name.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Degraded { .. } => "degraded",
            Verdict::NoHostData { .. } => "no-host-data",
            Verdict::KeyNotAvailable => "key-not-available",
            Verdict::KeyIncorrect { .. } => "key-incorrect",
            Verdict::CorruptOrTampered => "corrupt-or-tampered",
            Verdict::OwnedByAnotherHost => "owned-by-another-host",
        }
    }
}

/// Decides the verdict for an assessment made with (or without) a key.
/// `hostid` is the host that wants to use the zone; ownership is compared
/// only when it is given. An owner hostid of 0 means "no owner".
pub fn verdict(a: &Assessment, hostid: Option<u32>) -> Verdict {
    let states = [&a.copies[0].state, &a.copies[1].state];
    if states
        .iter()
        .all(|s| matches!(s, CopyState::Empty | CopyState::Foreign))
    {
        return Verdict::NoHostData {
            reason: "neither host-data slot of the reserved partition holds a KZRHOSTD copy".into(),
        };
    }
    if let Some((serving, h, d)) = a.best() {
        if let Some(me) = hostid
            && d.owner_hostid != 0
            && d.owner_hostid != me
        {
            return Verdict::OwnedByAnotherHost;
        }
        let other = match serving {
            CopyId::Primary => CopyId::Backup,
            CopyId::Backup => CopyId::Primary,
        };
        let other_report = a.copy(other);
        return match &other_report.state {
            CopyState::Valid(oh, od) if oh.generation == h.generation && **od == *d => {
                Verdict::Healthy
            }
            CopyState::Valid(oh, _) if oh.generation == h.generation => Verdict::Degraded {
                serving,
                bad: other,
                why: format!(
                    "{} copy has the same generation {} but different contents",
                    other.name(),
                    oh.generation
                ),
            },
            CopyState::Valid(oh, _) => Verdict::Degraded {
                serving,
                bad: other,
                why: format!(
                    "{} copy is stale (generation {} < {})",
                    other.name(),
                    oh.generation,
                    h.generation
                ),
            },
            _ => Verdict::Degraded {
                serving,
                bad: other,
                why: format!("{} copy: {}", other.name(), other_report.describe()),
            },
        };
    }
    if states.iter().any(|s| matches!(s, CopyState::Locked(_))) {
        return Verdict::KeyNotAvailable;
    }
    for s in states {
        if let CopyState::KeyIncorrect(h, given) = s {
            return Verdict::KeyIncorrect {
                stored: h.key_id,
                given: *given,
            };
        }
    }
    Verdict::CorruptOrTampered
}

/// What `init` writes besides the zone name: the owner and the zone facts.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// Owner hostid (0 = no owner).
    pub hostid: u32,
    /// Owner host name ("" = no owner).
    pub hostname: String,
    /// Last known state; "installed" when `None`.
    pub state: Option<String>,
    /// Boot environment name.
    pub be_name: String,
    /// Boot environment UUID ("" = unknown).
    pub be_uuid: String,
}

/// The host data `init` (Solaris' `attach -x initialize-hostdata`) writes,
/// sealed under a new key, and the slot writes. `now` is the update time.
pub fn plan_init(
    a: &Assessment,
    key: &HostKey,
    zone: &str,
    opts: &InitOptions,
    now: i64,
) -> Result<(HostData, Vec<store::CopyWrite>)> {
    keyfile::check_zone_name(zone)?;
    let state = opts.state.clone().unwrap_or_else(|| "installed".into());
    if !payload::STATES.contains(&state.as_str()) {
        return Err(Error::Usage(format!(
            "state {state:?} is not one of {}",
            payload::STATES.join(", ")
        )));
    }
    if !payload::check_uuid(&opts.be_uuid) {
        return Err(Error::Usage(format!(
            "BE uuid {:?} is not of the form 69ed2e6a-e25a-6d36-e022-ed7261ed8899",
            opts.be_uuid
        )));
    }
    let data = HostData {
        zonename: zone.to_string(),
        owner_hostid: opts.hostid,
        owner_hostname: opts.hostname.clone(),
        state,
        be_name: opts.be_name.clone(),
        be_uuid: opts.be_uuid.to_ascii_lowercase(),
        last_update: now,
        tod_offset_ns: 0,
        suspend: SuspendInfo::default(),
        obp_vars: Vec::new(),
        generation: next_generation(a)?,
        extra: Vec::new(),
    };
    let writes = store::plan_store(a, key, &data)?;
    Ok((data, writes))
}

/// The host data `takeover` (Solaris' `attach -x force-takeover`) writes:
/// the best valid copy with a new owner, update time and generation.
pub fn plan_takeover(
    a: &Assessment,
    key: &HostKey,
    hostid: u32,
    hostname: &str,
    now: i64,
) -> Result<(HostData, Vec<store::CopyWrite>)> {
    let Some((_, _, best)) = a.best() else {
        return Err(Error::Refused(format!(
            "no valid host data under key id {} to take over ({}); `kzrescue hostdata init` makes new host data with a new key",
            key.id(),
            verdict(a, None).name()
        )));
    };
    let mut data = best.clone();
    data.owner_hostid = hostid;
    data.owner_hostname = hostname.to_string();
    data.last_update = now;
    data.generation = next_generation(a)?;
    let writes = store::plan_store(a, key, &data)?;
    Ok((data, writes))
}

fn next_generation(a: &Assessment) -> Result<u64> {
    match a.max_generation() {
        None => Ok(1),
        Some(g) => g.checked_add(1).ok_or_else(|| {
            Error::Refused("host data generation is at its maximum (2^64 - 1)".into())
        }),
    }
}

/// Formats a time in seconds since 1970 UTC like Solaris `date` does
/// ("Sun Apr 13 20:08:13 2014", in UTC).
pub fn format_time(secs: i64) -> String {
    crate::time::asctime(secs)
}

/// The message Solaris prints when another host owns the zone, in its shape
/// (including the two spaces before the hostid); the fix line names the
/// offline takeover of `target`.
pub fn owner_message(zone: &str, d: &HostData, target: &str) -> String {
    let p = format!("zone '{zone}': error:");
    format!(
        "{p} ERROR: zone {zone} is in use by host with  hostid {:08x}\n\
         {p}       last known state: {}\n\
         {p}               hostname: {}\n\
         {p}  boot environment name: {}\n\
         {p}  boot environment uuid: {}\n\
         {p}       last update time: {}\n\
         {p} To fix, detach the zone from the other host then attach it to this host\n\
         {p} If the zone is not active on another host, take it over offline with\n\
         {p}    kzrescue hostdata takeover {target} --key /etc/zones/keys/{zone} --hostid <this host's hostid> --hostname <this host's name> --write",
        d.owner_hostid,
        d.state,
        d.owner_hostname,
        d.be_name,
        d.be_uuid,
        format_time(d.last_update)
    )
}

/// Seconds since 1970 UTC now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Parses a hostid as Solaris prints it (hex, with or without `0x`).
pub fn parse_hostid(s: &str) -> Result<u32> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    u32::from_str_radix(t, 16).map_err(|_| {
        Error::Usage(format!(
            "hostid {s:?} is not 1-8 hex digits (e.g. 848611d4)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_format_matches_solaris_example() {
        // Oracle's example message: "Sun Apr 13 20:08:13 2014".
        assert_eq!(format_time(1_397_419_693), "Sun Apr 13 20:08:13 2014");
        assert_eq!(format_time(0), "Thu Jan  1 00:00:00 1970");
    }

    #[test]
    fn hostids() {
        assert_eq!(parse_hostid("848611d4").unwrap(), 0x848611d4);
        assert_eq!(parse_hostid("0x2b2044c5").unwrap(), 0x2b2044c5);
        assert!(parse_hostid("xyz").is_err());
        assert!(parse_hostid("123456789").is_err());
    }
}
