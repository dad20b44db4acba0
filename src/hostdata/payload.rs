//! The host-data payload: the plaintext inside a container, an XDR packed
//! nvlist with named, typed pairs (`formats/hostdata.md` §5).

use crate::error::{Error, Result};
use crate::zfs::nvlist::{NvList, NvPair, NvValue};

/// `payload_version` this code writes and reads.
pub const PAYLOAD_VERSION: u32 = 1;

/// Zone states kzrescue writes into `state` (a reader accepts any string).
pub const STATES: &[&str] = &[
    "configured",
    "incomplete",
    "unavailable",
    "installed",
    "ready",
    "running",
    "shutting_down",
    "down",
];

/// Suspend information: whether a suspend image is pending, and where.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct SuspendInfo {
    /// A suspend image exists and the zone should resume from it.
    pub suspended: bool,
    /// Path or storage URI of the suspend image ("" when none).
    pub image: String,
    /// When the zone was suspended, seconds since 1970-01-01 UTC (0 = never).
    pub time: i64,
    /// Pairs of `suspend` this version does not know, in stored order; a
    /// rewrite keeps them after the three known pairs.
    #[serde(skip)]
    pub extra: Vec<NvPair>,
}

/// The decoded host data.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HostData {
    /// The zone's name.
    pub zonename: String,
    /// hostid of the global zone that owns the zone.
    pub owner_hostid: u32,
    /// Host name of the owner.
    pub owner_hostname: String,
    /// Last known zone state.
    pub state: String,
    /// Boot environment name.
    pub be_name: String,
    /// Boot environment UUID (lower-case 8-4-4-4-12 form, or "" when unknown).
    pub be_uuid: String,
    /// Last update, seconds since 1970-01-01 UTC.
    pub last_update: i64,
    /// Kernel-zone clock minus global-zone clock, in nanoseconds.
    pub tod_offset_ns: i64,
    /// Suspend state.
    pub suspend: SuspendInfo,
    /// OpenBoot variables (SPARC; empty elsewhere), in stored order.
    pub obp_vars: Vec<(String, String)>,
    /// Generation; equals the container header's generation.
    pub generation: u64,
    /// Pairs this version does not know, kept so that a rewrite preserves them.
    #[serde(skip)]
    pub extra: Vec<NvPair>,
}

/// Names of the known top-level pairs, in the order they are written.
pub const FIELD_NAMES: &[&str] = &[
    "payload_version",
    "zonename",
    "owner_hostid",
    "owner_hostname",
    "state",
    "be_name",
    "be_uuid",
    "last_update",
    "tod_offset_ns",
    "suspend",
    "obp_vars",
    "generation",
];

/// Names of the known pairs of `suspend`, in the order they are written.
pub const SUSPEND_NAMES: &[&str] = &["suspended", "image", "time"];

/// Every name in `l` and in each list embedded in it, at any depth, appears
/// once (§5: `NV_UNIQUE_NAME` binds every list of the payload).
fn unique_names(l: &NvList, path: &str) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for p in &l.pairs {
        if !seen.insert(p.name.as_str()) {
            return Err(Error::corrupt(
                "host data payload",
                0,
                format!("pair {path}{:?} appears twice", p.name),
            ));
        }
        if let NvValue::NvList(inner) = &p.value {
            unique_names(inner, &format!("{path}{}/", p.name))?;
        }
    }
    Ok(())
}

/// The embedded lists `suspend` and `obp_vars` carry `nvl_version` 0 and
/// `nvl_nvflag` 1, like the top-level list (§5).
fn embedded_header(l: &NvList, name: &str) -> Result<()> {
    if l.version != 0 || l.nvflag != 1 {
        return Err(Error::corrupt(
            "host data payload",
            0,
            format!(
                "embedded list {name:?} has nvl_version {} / nvl_nvflag {} (must be 0 / 1)",
                l.version, l.nvflag
            ),
        ));
    }
    Ok(())
}

fn pair(name: &str, value: NvValue) -> NvPair {
    NvPair {
        name: name.to_string(),
        value,
    }
}

/// Checks a BE UUID: empty, or the 36-character hyphenated hex form.
pub fn check_uuid(s: &str) -> bool {
    s.is_empty()
        || (s.len() == 36
            && s.bytes().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_hexdigit(),
            }))
}

impl HostData {
    /// The payload as an nvlist (pairs in [`FIELD_NAMES`] order, then `extra`).
    pub fn to_nvlist(&self) -> NvList {
        let mut suspend = NvList::new();
        suspend.pairs = vec![
            pair("suspended", NvValue::BooleanValue(self.suspend.suspended)),
            pair("image", NvValue::String(self.suspend.image.clone())),
            pair("time", NvValue::Int64(self.suspend.time)),
        ];
        suspend.pairs.extend(self.suspend.extra.iter().cloned());
        let mut obp = NvList::new();
        obp.pairs = self
            .obp_vars
            .iter()
            .map(|(k, v)| pair(k, NvValue::String(v.clone())))
            .collect();
        let mut l = NvList::new();
        l.pairs = vec![
            pair("payload_version", NvValue::UInt32(PAYLOAD_VERSION)),
            pair("zonename", NvValue::String(self.zonename.clone())),
            pair("owner_hostid", NvValue::UInt32(self.owner_hostid)),
            pair(
                "owner_hostname",
                NvValue::String(self.owner_hostname.clone()),
            ),
            pair("state", NvValue::String(self.state.clone())),
            pair("be_name", NvValue::String(self.be_name.clone())),
            pair("be_uuid", NvValue::String(self.be_uuid.clone())),
            pair("last_update", NvValue::Int64(self.last_update)),
            pair("tod_offset_ns", NvValue::Int64(self.tod_offset_ns)),
            pair("suspend", NvValue::NvList(suspend)),
            pair("obp_vars", NvValue::NvList(obp)),
            pair("generation", NvValue::UInt64(self.generation)),
        ];
        l.pairs.extend(self.extra.iter().cloned());
        l
    }

    /// Validates and decodes a payload nvlist. Every known pair must be
    /// present once with its type; unknown pairs are kept in `extra`.
    pub fn from_nvlist(l: &NvList) -> Result<Self> {
        // A decoded nvlist keeps no byte positions: these errors name the
        // pair and point at the start of the decrypted packed list (offset
        // 0 of the plaintext) that holds it.
        let bad = |detail: String| Error::corrupt("host data payload", 0, detail);
        unique_names(l, "")?;
        let get = |name: &str| {
            l.get(name)
                .ok_or_else(|| bad(format!("missing pair {name:?}")))
        };
        let wrong = |name: &str, want: &str, v: &NvValue| {
            bad(format!(
                "pair {name:?} has data type {}, expected {want}",
                v.type_code()
            ))
        };
        let string = |name: &str| -> Result<String> {
            match get(name)? {
                NvValue::String(s) => Ok(s.clone()),
                v => Err(wrong(name, "STRING (9)", v)),
            }
        };
        let int64 = |name: &str| -> Result<i64> {
            match get(name)? {
                NvValue::Int64(x) => Ok(*x),
                v => Err(wrong(name, "INT64 (7)", v)),
            }
        };
        let u32_of = |name: &str| -> Result<u32> {
            match get(name)? {
                NvValue::UInt32(x) => Ok(*x),
                v => Err(wrong(name, "UINT32 (6)", v)),
            }
        };
        // The container's format version is the one version switch (§4.1):
        // an incompatible payload bumps it. A payload_version other than 1
        // inside a version-1 container is therefore a malformed payload.
        let version = u32_of("payload_version")?;
        if version != PAYLOAD_VERSION {
            return Err(bad(format!(
                "payload_version {version} in a version-1 container (must be {PAYLOAD_VERSION})"
            )));
        }
        let generation = match get("generation")? {
            NvValue::UInt64(x) => *x,
            v => return Err(wrong("generation", "UINT64 (8)", v)),
        };
        let suspend_l = match get("suspend")? {
            NvValue::NvList(x) => x,
            v => return Err(wrong("suspend", "NVLIST (19)", v)),
        };
        embedded_header(suspend_l, "suspend")?;
        let suspend = SuspendInfo {
            suspended: match suspend_l.get("suspended") {
                Some(NvValue::BooleanValue(b)) => *b,
                Some(v) => return Err(wrong("suspend/suspended", "BOOLEAN_VALUE (21)", v)),
                None => return Err(bad("missing pair \"suspend/suspended\"".into())),
            },
            image: match suspend_l.get("image") {
                Some(NvValue::String(s)) => s.clone(),
                Some(v) => return Err(wrong("suspend/image", "STRING (9)", v)),
                None => return Err(bad("missing pair \"suspend/image\"".into())),
            },
            time: match suspend_l.get("time") {
                Some(NvValue::Int64(t)) => *t,
                Some(v) => return Err(wrong("suspend/time", "INT64 (7)", v)),
                None => return Err(bad("missing pair \"suspend/time\"".into())),
            },
            extra: suspend_l
                .pairs
                .iter()
                .filter(|p| !SUSPEND_NAMES.contains(&p.name.as_str()))
                .cloned()
                .collect(),
        };
        let obp_l = match get("obp_vars")? {
            NvValue::NvList(x) => x,
            v => return Err(wrong("obp_vars", "NVLIST (19)", v)),
        };
        embedded_header(obp_l, "obp_vars")?;
        let mut obp_vars = Vec::with_capacity(obp_l.pairs.len());
        for p in &obp_l.pairs {
            match &p.value {
                NvValue::String(s) => obp_vars.push((p.name.clone(), s.clone())),
                v => return Err(wrong(&format!("obp_vars/{}", p.name), "STRING (9)", v)),
            }
        }
        let be_uuid = string("be_uuid")?;
        if !check_uuid(&be_uuid) {
            return Err(bad(format!("be_uuid {be_uuid:?} is not a UUID")));
        }
        Ok(HostData {
            zonename: string("zonename")?,
            owner_hostid: u32_of("owner_hostid")?,
            owner_hostname: string("owner_hostname")?,
            state: string("state")?,
            be_name: string("be_name")?,
            be_uuid,
            last_update: int64("last_update")?,
            tod_offset_ns: int64("tod_offset_ns")?,
            suspend,
            obp_vars,
            generation,
            extra: l
                .pairs
                .iter()
                .filter(|p| !FIELD_NAMES.contains(&p.name.as_str()))
                .cloned()
                .collect(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::hostdata::{payload_decode, payload_encode};

    /// The payload of the worked example in `formats/hostdata.md` §8.
    pub(crate) fn example() -> HostData {
        HostData {
            zonename: "kzone1".into(),
            owner_hostid: 0x848611d4,
            owner_hostname: "global2".into(),
            state: "installed".into(),
            be_name: "solaris-1".into(),
            be_uuid: "69ed2e6a-e25a-6d36-e022-ed7261ed8899".into(),
            last_update: 1_397_419_693,
            tod_offset_ns: -1_500_000_000,
            suspend: SuspendInfo {
                suspended: false,
                image: String::new(),
                time: 0,
                extra: Vec::new(),
            },
            obp_vars: vec![("auto-boot?".into(), "true".into())],
            generation: 1,
            extra: Vec::new(),
        }
    }

    #[test]
    fn round_trip_through_xdr() {
        let d = example();
        let bytes = payload_encode(&d).unwrap();
        assert_eq!(&bytes[..4], &[1, 1, 0, 0]);
        assert_eq!(payload_decode(&bytes).unwrap(), d);
        // Unknown pairs survive a decode/encode cycle.
        let mut l = d.to_nvlist();
        l.pairs.push(pair("future_field", NvValue::UInt64(9)));
        let d2 = HostData::from_nvlist(&l).unwrap();
        assert_eq!(d2.extra.len(), 1);
        assert_eq!(d2.to_nvlist(), l);
    }

    #[test]
    fn missing_duplicate_and_mistyped_pairs_are_rejected() {
        let l = example().to_nvlist();
        for name in FIELD_NAMES {
            let mut m = l.clone();
            m.remove(name);
            let e = HostData::from_nvlist(&m).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Corrupt, "{e}");
            // the missing pair is what the message is about
            assert!(e.detail().unwrap().contains(name), "{e}");
        }
        let mut dup = l.clone();
        dup.pairs
            .push(pair("zonename", NvValue::String("x".into())));
        assert!(HostData::from_nvlist(&dup).is_err());
        let mut typed = l.clone();
        typed.set("owner_hostid", NvValue::UInt64(1));
        let e = HostData::from_nvlist(&typed).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Corrupt, "{e}");
        assert_eq!(e.structure(), Some("host data payload"));
        let mut uuid = l.clone();
        uuid.set("be_uuid", NvValue::String("not-a-uuid".into()));
        assert!(HostData::from_nvlist(&uuid).is_err());
        let mut ver = l;
        ver.set("payload_version", NvValue::UInt32(2));
        assert!(HostData::from_nvlist(&ver).is_err());
    }

    #[test]
    fn trailing_bytes_rejected() {
        let mut bytes = payload_encode(&example()).unwrap();
        bytes.extend_from_slice(&[0; 4]);
        assert!(payload_decode(&bytes).is_err());
    }
}
