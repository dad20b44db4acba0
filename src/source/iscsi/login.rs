//! Login and text-phase contents (RFC 7143 §6, §12, §13; RFC 1994 CHAP):
//! `key=value` pairs separated by NUL bytes, the CHAP response, and the
//! operational parameters we offer and how the target's answers combine
//! with ours.

use crate::error::{Error, Result};
use md5::{Digest, Md5};
use zeroize::Zeroizing;

/// Longest key RFC 7143 allows (§6.1).
pub const MAX_KEY_LEN: usize = 63;
/// Longest value we accept; SendTargets answers are long but not this long.
pub const MAX_VALUE_LEN: usize = 65_536;
/// Most pairs we accept in one exchange.
pub const MAX_PAIRS: usize = 4096;

/// Parses a text/login data segment into its `key=value` pairs, in order.
/// Trailing NUL padding is allowed; an empty segment yields no pairs.
pub fn parse_text(data: &[u8]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    for item in data.split(|&b| b == 0) {
        let start = pos;
        pos += item.len() + 1;
        if item.is_empty() {
            continue;
        }
        if out.len() >= MAX_PAIRS {
            return Err(Error::corrupt(
                "iSCSI text key=value",
                start as u64,
                "more than 4096 pairs",
            ));
        }
        let eq = item.iter().position(|&b| b == b'=').ok_or_else(|| {
            Error::corrupt("iSCSI text key=value", start as u64, "pair without '='")
        })?;
        let (k, v) = (&item[..eq], &item[eq + 1..]);
        if k.is_empty() || k.len() > MAX_KEY_LEN {
            return Err(Error::corrupt(
                "iSCSI text key=value",
                start as u64,
                format!("key of {} bytes (1..=63 allowed)", k.len()),
            ));
        }
        if !k
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+' | b'@' | b'_'))
        {
            return Err(Error::corrupt(
                "iSCSI text key=value",
                start as u64,
                "key holds characters outside a-z A-Z 0-9 . - + @ _",
            ));
        }
        if v.len() > MAX_VALUE_LEN {
            return Err(Error::corrupt(
                "iSCSI text key=value",
                (start + eq + 1) as u64,
                format!("value of {} bytes is too long", v.len()),
            ));
        }
        let v = std::str::from_utf8(v).map_err(|e| {
            Error::corrupt(
                "iSCSI text key=value",
                (start + eq + 1 + e.valid_up_to()) as u64,
                "value is not UTF-8",
            )
        })?;
        // Keys were checked to be ASCII above.
        let k = String::from_utf8_lossy(k).into_owned();
        out.push((k, v.to_string()));
    }
    Ok(out)
}

/// Encodes pairs as `key=value\0…`.
pub fn encode_text(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

/// First value of `key` among `pairs`.
pub fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A CHAP user name and secret. The secret is wiped from memory when
/// dropped; it is never taken from the command line.
pub struct ChapCredentials {
    /// CHAP_N.
    pub user: String,
    /// The shared secret.
    pub secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ChapCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChapCredentials({}, <secret>)", self.user)
    }
}

impl Clone for ChapCredentials {
    fn clone(&self) -> Self {
        ChapCredentials {
            user: self.user.clone(),
            secret: Zeroizing::new(self.secret.to_vec()),
        }
    }
}

impl ChapCredentials {
    /// Reads the secret from `path` (one line; a trailing newline is not
    /// part of the secret).
    pub fn from_file(user: &str, path: &std::path::Path) -> Result<Self> {
        let raw = Zeroizing::new(crate::input::read_bounded(
            path,
            "CHAP secret file",
            64 * 1024,
            false,
        )?);
        let mut end = raw.len();
        while end > 0 && matches!(raw[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        Self::new(user, &raw[..end])
    }

    /// Credentials from bytes.
    pub fn new(user: &str, secret: &[u8]) -> Result<Self> {
        if secret.is_empty() {
            return Err(Error::Usage("CHAP secret is empty".into()));
        }
        Ok(ChapCredentials {
            user: user.to_string(),
            secret: Zeroizing::new(secret.to_vec()),
        })
    }

    /// From the environment as `var` shows it (the caller's view; the
    /// library reads none itself): `KZRESCUE_CHAP_USER` plus either
    /// `KZRESCUE_CHAP_SECRET_FILE` (a file holding the secret) or
    /// `KZRESCUE_CHAP_SECRET`. `None` when no user is set.
    pub fn from_vars(var: crate::source::Vars<'_>) -> Result<Option<Self>> {
        let text = |k: &str| var(k).and_then(|v| v.into_string().ok());
        let Some(user) = text("KZRESCUE_CHAP_USER") else {
            return Ok(None);
        };
        if let Some(path) = var("KZRESCUE_CHAP_SECRET_FILE") {
            return Self::from_file(&user, std::path::Path::new(&path)).map(Some);
        }
        match text("KZRESCUE_CHAP_SECRET") {
            Some(s) => {
                let s = Zeroizing::new(s);
                Self::new(&user, s.as_bytes()).map(Some)
            }
            None => Err(Error::Usage(
                "KZRESCUE_CHAP_USER is set but neither KZRESCUE_CHAP_SECRET_FILE nor KZRESCUE_CHAP_SECRET"
                    .into(),
            )),
        }
    }
}

/// CHAP_R for MD5 (RFC 1994 §4.1): MD5(identifier ‖ secret ‖ challenge).
pub fn chap_md5_response(id: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([id]);
    h.update(secret);
    h.update(challenge);
    let out = h.finalize();
    let mut r = [0u8; 16];
    r.copy_from_slice(&out);
    r
}

/// Decodes a binary value as iSCSI writes them: `0x…` hex or `0b…` base64.
pub fn decode_binary(key: &str, v: &str) -> Result<Vec<u8>> {
    let bad = |d: &str| Error::corrupt(format!("iSCSI login key {key}"), 0, d.to_string());
    if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        let h = if h.len() % 2 == 1 {
            format!("0{h}")
        } else {
            h.to_string()
        };
        return hex::decode(&h).map_err(|e| bad(&format!("bad hex value: {e}")));
    }
    if let Some(b) = v.strip_prefix("0b").or_else(|| v.strip_prefix("0B")) {
        return base64_decode(b).ok_or_else(|| bad("bad base64 value"));
    }
    Err(bad("binary value neither 0x (hex) nor 0b (base64)"))
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Computes the CHAP answer to a target's `CHAP_A`, `CHAP_I`, `CHAP_C`.
pub fn chap_answer(
    pairs: &[(String, String)],
    creds: &ChapCredentials,
) -> Result<(String, String)> {
    let alg = get(pairs, "CHAP_A").unwrap_or("");
    if alg != "5" {
        return Err(Error::unsupported(
            "iSCSI CHAP algorithm",
            format!("target chose CHAP_A={alg:?}; only 5 (MD5) is implemented"),
        ));
    }
    let id: u8 = get(pairs, "CHAP_I")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::corrupt("iSCSI login key CHAP_I", 0, "missing or not 0..=255"))?;
    let chal = decode_binary("CHAP_C", get(pairs, "CHAP_C").unwrap_or(""))?;
    if chal.is_empty() || chal.len() > 1024 {
        return Err(Error::corrupt(
            "iSCSI login key CHAP_C",
            0,
            format!("challenge of {} bytes", chal.len()),
        ));
    }
    let r = chap_md5_response(id, &creds.secret, &chal);
    Ok((creds.user.clone(), format!("0x{}", hex::encode(r))))
}

/// Digest choice for headers or data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DigestPref {
    /// Offer `None` only.
    #[default]
    None,
    /// Offer `CRC32C,None` (the target picks).
    Prefer,
    /// Offer `CRC32C` only.
    Require,
}

impl DigestPref {
    fn offer(self) -> &'static str {
        match self {
            DigestPref::None => "None",
            DigestPref::Prefer => "CRC32C,None",
            DigestPref::Require => "CRC32C",
        }
    }
}

/// The operational parameters of a session: what we offer, then what was
/// agreed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpParams {
    /// HeaderDigest agreed to CRC32C.
    pub header_digest: bool,
    /// DataDigest agreed to CRC32C.
    pub data_digest: bool,
    /// Largest data segment we accept (declared by us).
    pub our_max_recv: u32,
    /// Largest data segment the target accepts (declared by it; limits our
    /// Data-Out and immediate data).
    pub their_max_recv: u32,
    /// MaxBurstLength (minimum of both).
    pub max_burst: u32,
    /// FirstBurstLength (minimum of both).
    pub first_burst: u32,
    /// ImmediateData (AND of both).
    pub immediate_data: bool,
    /// InitialR2T (OR of both).
    pub initial_r2t: bool,
    /// MaxOutstandingR2T agreed.
    pub max_outstanding_r2t: u32,
}

impl Default for OpParams {
    fn default() -> Self {
        // RFC 7143 defaults, used until the target says otherwise.
        OpParams {
            header_digest: false,
            data_digest: false,
            our_max_recv: 8192,
            their_max_recv: 8192,
            max_burst: 262_144,
            first_burst: 65_536,
            immediate_data: true,
            initial_r2t: true,
            max_outstanding_r2t: 1,
        }
    }
}

/// What we ask for in operational negotiation.
#[derive(Clone, Debug)]
pub struct OpOffer {
    /// HeaderDigest preference.
    pub header_digest: DigestPref,
    /// DataDigest preference.
    pub data_digest: DigestPref,
    /// Our MaxRecvDataSegmentLength.
    pub max_recv: u32,
    /// MaxBurstLength offered.
    pub max_burst: u32,
    /// FirstBurstLength offered.
    pub first_burst: u32,
    /// ImmediateData offered.
    pub immediate_data: bool,
    /// InitialR2T offered.
    pub initial_r2t: bool,
}

impl Default for OpOffer {
    fn default() -> Self {
        OpOffer {
            header_digest: DigestPref::None,
            data_digest: DigestPref::None,
            max_recv: 262_144,
            max_burst: 16_776_192,
            first_burst: 262_144,
            immediate_data: true,
            // Yes: Data-Out only when solicited. tgt 1.0.85 agrees to No but
            // then solicits (R2T) data that was already sent unsolicited.
            initial_r2t: true,
        }
    }
}

impl OpOffer {
    /// The keys of a normal session's operational stage.
    pub fn keys(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HeaderDigest", self.header_digest.offer().to_string()),
            ("DataDigest", self.data_digest.offer().to_string()),
            ("MaxRecvDataSegmentLength", self.max_recv.to_string()),
            ("MaxBurstLength", self.max_burst.to_string()),
            ("FirstBurstLength", self.first_burst.to_string()),
            ("ImmediateData", yes_no(self.immediate_data).into()),
            ("InitialR2T", yes_no(self.initial_r2t).into()),
            ("MaxConnections", "1".into()),
            ("MaxOutstandingR2T", "1".into()),
            ("DataPDUInOrder", "Yes".into()),
            ("DataSequenceInOrder", "Yes".into()),
            ("ErrorRecoveryLevel", "0".into()),
            ("DefaultTime2Wait", "0".into()),
            ("DefaultTime2Retain", "0".into()),
        ]
    }

    /// Folds the target's answers into agreed parameters. Keys the target
    /// did not answer keep the RFC defaults (for digests: None).
    pub fn agree(&self, answers: &[(String, String)]) -> Result<OpParams> {
        let mut p = OpParams {
            our_max_recv: self.max_recv,
            ..OpParams::default()
        };
        let num = |k: &str, v: &str, lo: u32, hi: u32| -> Result<u32> {
            match v.parse::<u32>() {
                Ok(n) if (lo..=hi).contains(&n) => Ok(n),
                _ => Err(Error::corrupt(
                    format!("iSCSI login key {k}"),
                    0,
                    format!("target answered {v:?}, not a number in {lo}..={hi}"),
                )),
            }
        };
        let boolean = |k: &str, v: &str| -> Result<bool> {
            match v {
                "Yes" => Ok(true),
                "No" => Ok(false),
                _ => Err(Error::corrupt(
                    format!("iSCSI login key {k}"),
                    0,
                    format!("target answered {v:?}, not Yes or No"),
                )),
            }
        };
        let digest = |k: &str, v: &str, pref: DigestPref| -> Result<bool> {
            let on = match v {
                "CRC32C" => true,
                "None" => false,
                _ => {
                    return Err(Error::corrupt(
                        format!("iSCSI login key {k}"),
                        0,
                        format!("target answered {v:?}, not CRC32C or None"),
                    ));
                }
            };
            if on && pref == DigestPref::None || !on && pref == DigestPref::Require {
                return Err(Error::Refused(format!(
                    "iSCSI login: target chose {k}={v}, which we did not offer"
                )));
            }
            Ok(on)
        };
        let mut seen_hd = false;
        let mut seen_dd = false;
        p.immediate_data = self.immediate_data;
        p.initial_r2t = self.initial_r2t;
        p.max_burst = self.max_burst.min(262_144);
        p.first_burst = self.first_burst.min(65_536);
        for (k, v) in answers {
            match k.as_str() {
                "HeaderDigest" => {
                    p.header_digest = digest(k, v, self.header_digest)?;
                    seen_hd = true;
                }
                "DataDigest" => {
                    p.data_digest = digest(k, v, self.data_digest)?;
                    seen_dd = true;
                }
                "MaxRecvDataSegmentLength" => p.their_max_recv = num(k, v, 512, 16_777_215)?,
                "MaxBurstLength" => p.max_burst = num(k, v, 512, 16_777_215)?.min(self.max_burst),
                "FirstBurstLength" => {
                    p.first_burst = num(k, v, 512, 16_777_215)?.min(self.first_burst)
                }
                "ImmediateData" => p.immediate_data = boolean(k, v)? && self.immediate_data,
                "InitialR2T" => p.initial_r2t = boolean(k, v)? || self.initial_r2t,
                "MaxOutstandingR2T" => p.max_outstanding_r2t = num(k, v, 1, 65_535)?.min(1),
                _ => {}
            }
        }
        if !seen_hd && self.header_digest == DigestPref::Require
            || !seen_dd && self.data_digest == DigestPref::Require
        {
            return Err(Error::Refused(
                "iSCSI login: target did not agree to the required CRC32C digest".into(),
            ));
        }
        p.first_burst = p.first_burst.min(p.max_burst);
        Ok(p)
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "Yes" } else { "No" }
}

/// One target from a SendTargets answer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DiscoveredTarget {
    /// The target's iSCSI name.
    pub name: String,
    /// Its portals as `address:port,tpgt` strings, as the target sent them.
    pub addresses: Vec<String>,
}

/// Groups SendTargets pairs: each `TargetName` starts a target and the
/// `TargetAddress` values that follow belong to it.
pub fn parse_send_targets(pairs: &[(String, String)]) -> Result<Vec<DiscoveredTarget>> {
    let mut out: Vec<DiscoveredTarget> = Vec::new();
    for (k, v) in pairs {
        match k.as_str() {
            "TargetName" => out.push(DiscoveredTarget {
                name: v.clone(),
                addresses: Vec::new(),
            }),
            "TargetAddress" => match out.last_mut() {
                Some(t) => t.addresses.push(v.clone()),
                None => {
                    return Err(Error::corrupt(
                        "iSCSI SendTargets answer",
                        0,
                        "TargetAddress before any TargetName",
                    ));
                }
            },
            _ => {}
        }
    }
    Ok(out)
}

/// Login status class/detail (RFC 7143 §11.13.5) as words.
pub fn login_status_text(class: u8, detail: u8) -> String {
    let d = match (class, detail) {
        (1, 1) => "target moved temporarily",
        (1, 2) => "target moved permanently",
        (2, 0) => "initiator error",
        (2, 1) => "authentication failed",
        (2, 2) => "authorization failure (initiator not allowed)",
        (2, 3) => "target not found",
        (2, 4) => "target removed",
        (2, 5) => "unsupported version",
        (2, 6) => "too many connections",
        (2, 7) => "missing parameter",
        (2, 8) => "cannot include connection in session",
        (2, 9) => "session type not supported",
        (2, 10) => "session does not exist",
        (2, 11) => "invalid request during login",
        (3, 0) => "target error",
        (3, 1) => "service unavailable",
        (3, 2) => "out of resources",
        _ => "unknown status",
    };
    format!("status {class:#04x}/{detail:#04x} ({d})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_roundtrip() {
        let b = encode_text(&[("InitiatorName", "iqn.x:y"), ("SessionType", "Normal")]);
        let p = parse_text(&b).unwrap();
        assert_eq!(get(&p, "SessionType"), Some("Normal"));
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn text_errors_name_offset() {
        let e = parse_text(b"A=1\0novalue\0").unwrap_err().to_string();
        assert!(e.contains("at byte offset 0x4"), "{e}");
    }

    #[test]
    fn chap_rfc1994_vector() {
        // id=1, secret "secret", challenge 0x00..0x0f, checked with python hashlib.
        let chal: Vec<u8> = (0u8..16).collect();
        let r = chap_md5_response(1, b"secret", &chal);
        assert_eq!(hex::encode(r), "740e86463bda3a4d7017d6e0fba0699d");
    }

    #[test]
    fn base64_binary() {
        assert_eq!(decode_binary("K", "0bAAEC").unwrap(), vec![0, 1, 2]);
        assert_eq!(decode_binary("K", "0x000102").unwrap(), vec![0, 1, 2]);
    }

    #[test]
    fn negotiation_rules() {
        let o = OpOffer::default();
        let ans = vec![
            ("MaxRecvDataSegmentLength".to_string(), "8192".to_string()),
            ("ImmediateData".into(), "No".into()),
            ("InitialR2T".into(), "Yes".into()),
            ("MaxBurstLength".into(), "262144".into()),
            ("FirstBurstLength".into(), "65536".into()),
        ];
        let p = o.agree(&ans).unwrap();
        assert!(!p.immediate_data && p.initial_r2t);
        assert_eq!(p.their_max_recv, 8192);
        assert_eq!(p.first_burst, 65536);
    }
}
