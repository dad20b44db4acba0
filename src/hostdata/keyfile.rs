//! The zone key: 16 bytes of AES-128 key material and the key file that holds it.
//!
//! A key file (kzrescue's own format, see `formats/hostdata.md` §6) is a small
//! text file, one key per zone, mode 0600:
//!
//! ```text
//! kzrescue-hostdata-key 1
//! zone kzone1
//! aes-128-ccm 000102030405060708090a0b0c0d0e0f
//! ```
//!
//! The reader also takes a `zonecfg export` script with a `keysource`
//! resource (`add keysource` / `set raw=<32 hex digits>` / `end`).
//!
//! Key material lives only in [`HostKey`], whose bytes are zeroized on drop;
//! no `Debug`, `Display` or error message ever shows them, only the
//! [`KeyId`] (a truncated hash).

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;
use zeroize::{Zeroize, Zeroizing};

/// Length of an AES-128 key in bytes.
pub const KEY_LEN: usize = 16;
/// Length of a [`KeyId`] in bytes.
pub const KEY_ID_LEN: usize = 8;
/// Domain-separation prefix hashed before the key to form its [`KeyId`].
pub const KEY_ID_DOMAIN: &[u8] = b"kzrescue hostdata key id v1";
/// First line of a kzrescue key file.
pub const KEYFILE_MAGIC_LINE: &str = "kzrescue-hostdata-key 1";

/// A zone's host-data key (AES-128). Zeroized when dropped; never printed.
pub struct HostKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

/// The first 8 bytes of SHA-256(`KEY_ID_DOMAIN` ‖ key): names a key without
/// revealing it, so that "key incorrect" can be told apart from "tampered".
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostKey(id {})", self.id())
    }
}

impl HostKey {
    /// A key from raw bytes. The caller's array is zeroized.
    pub fn from_bytes(bytes: &mut [u8; KEY_LEN]) -> Self {
        let key = HostKey {
            bytes: Zeroizing::new(*bytes),
        };
        bytes.zeroize();
        key
    }

    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(bytes.as_mut()).map_err(|e| {
            Error::io(
                "read 16 random bytes for a new key",
                std::io::Error::other(e.to_string()),
            )
        })?;
        if bytes.iter().all(|&b| b == 0) {
            return Err(Error::Refused(
                "the OS random generator returned 16 zero bytes; not using them as a key".into(),
            ));
        }
        Ok(HostKey { bytes })
    }

    /// The key's [`KeyId`].
    pub fn id(&self) -> KeyId {
        let mut h = Sha256::new();
        h.update(KEY_ID_DOMAIN);
        h.update(self.bytes.as_ref());
        let digest = h.finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        KeyId(id)
    }

    /// The raw key bytes, for the cipher only.
    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// The key file text (kzrescue format) for `zone`. The returned string is
    /// zeroized when dropped.
    pub fn to_keyfile(&self, zone: &str) -> Result<Zeroizing<String>> {
        check_zone_name(zone)?;
        let mut hex_key = Zeroizing::new(hex::encode(self.bytes.as_ref()));
        let text = Zeroizing::new(format!(
            "{KEYFILE_MAGIC_LINE}\nzone {zone}\naes-128-ccm {}\n",
            hex_key.as_str()
        ));
        hex_key.zeroize();
        Ok(text)
    }

    /// The equivalent `keysource` resource for a `zonecfg` command script
    /// (kzrescue's reading of it; Oracle's exact syntax is not public).
    pub fn to_zonecfg_keysource(&self) -> Zeroizing<String> {
        let hex_key = Zeroizing::new(hex::encode(self.bytes.as_ref()));
        Zeroizing::new(format!(
            "add keysource\nset raw={}\nend\n",
            hex_key.as_str()
        ))
    }
}

/// A parsed key file: the key and, for kzrescue key files, the zone it names.
#[derive(Debug)]
pub struct KeyFile {
    /// The zone named in the file (`None` for a zonecfg keysource).
    pub zone: Option<String>,
    /// The key.
    pub key: HostKey,
}

/// A zone name as Solaris allows it: 1–63 characters, starting with an
/// alphanumeric, then alphanumerics, `-`, `_` and `.`.
pub fn check_zone_name(zone: &str) -> Result<()> {
    let ok = !zone.is_empty()
        && zone.len() <= 63
        && zone.as_bytes()[0].is_ascii_alphanumeric()
        && zone
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid zone name {zone:?} (1-63 characters: letters, digits, '-', '_', '.'; starting with a letter or digit)"
        )))
    }
}

/// Decodes exactly 32 hex digits into a key; the error never quotes the text.
fn parse_hex_key(text: &str, what: &str) -> Result<HostKey> {
    if text.len() != 2 * KEY_LEN {
        return Err(Error::Usage(format!(
            "{what}: the key must be {} hex digits, found {} characters",
            2 * KEY_LEN,
            text.len()
        )));
    }
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    hex::decode_to_slice(text, bytes.as_mut())
        .map_err(|_| Error::Usage(format!("{what}: the key is not hexadecimal")))?;
    Ok(HostKey { bytes })
}

/// Blanks that separate a keyword from its value: spaces and tabs (§6).
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Splits a line at its first run of blanks into keyword and value.
fn keyword(line: &str) -> (&str, &str) {
    match line.find(is_blank) {
        Some(i) => (&line[..i], line[i..].trim_matches(is_blank)),
        None => (line, ""),
    }
}

/// The lines of a key file: a leading UTF-8 BOM dropped, `\n` or `\r\n`
/// ends, blanks (spaces, tabs) trimmed at both ends.
fn key_lines(text: &str) -> impl Iterator<Item = &str> {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).trim_matches(is_blank))
}

/// The value of a zonecfg `set raw=…` line inside a keysource resource:
/// `raw`, optional blanks, `=`, optional blanks, then the 32 hex digits bare
/// or in one pair of double quotes. `None` when the line sets something else.
fn raw_value<'a>(line: &'a str, what: &str) -> Result<Option<&'a str>> {
    let (k, rest) = keyword(line);
    if k != "set" {
        return Ok(None);
    }
    let Some(v) = rest.strip_prefix("raw") else {
        return Ok(None);
    };
    let Some(v) = v.trim_start_matches(is_blank).strip_prefix('=') else {
        return Ok(None);
    };
    let v = v.trim_matches(is_blank);
    match (v.strip_prefix('"'), v.ends_with('"')) {
        (Some(inner), true) if !inner.is_empty() => Ok(Some(&inner[..inner.len() - 1])),
        (None, false) => Ok(Some(v)),
        _ => Err(Error::Usage(format!(
            "{what}: keysource raw value has an unbalanced double quote"
        ))),
    }
}

/// Parses key-file text: a kzrescue key file, or a zonecfg export holding a
/// `keysource` resource with a `raw` property. `what` names the file in
/// messages. Errors never quote key material.
pub fn parse_keyfile(text: &str, what: &str) -> Result<KeyFile> {
    let mut lines = key_lines(text).filter(|l| !l.is_empty() && !l.starts_with('#'));
    let first = lines.next().unwrap_or("");
    if keyword(first) == ("kzrescue-hostdata-key", "1") {
        let mut zone = None;
        let mut key = None;
        for line in lines {
            let (k, v) = keyword(line);
            match k {
                "zone" if zone.is_none() => {
                    check_zone_name(v).map_err(|e| Error::Usage(format!("{what}: {e}")))?;
                    zone = Some(v.to_string());
                }
                "aes-128-ccm" if key.is_none() => key = Some(parse_hex_key(v, what)?),
                "zone" | "aes-128-ccm" => {
                    return Err(Error::Usage(format!("{what}: duplicate `{k}` line")));
                }
                _ => {
                    return Err(Error::Usage(format!(
                        "{what}: unknown line starting with {:?}",
                        k.chars().take(24).collect::<String>()
                    )));
                }
            }
        }
        let key = key.ok_or_else(|| Error::Usage(format!("{what}: no `aes-128-ccm` line")))?;
        return Ok(KeyFile { zone, key });
    }
    // A zonecfg command script: find `add keysource` … `set raw=` … `end`.
    let mut in_keysource = false;
    let mut key = None;
    for line in key_lines(text) {
        if keyword(line) == ("add", "keysource") {
            in_keysource = true;
        } else if in_keysource && line == "end" {
            in_keysource = false;
        } else if in_keysource && let Some(v) = raw_value(line, what)? {
            if key.is_some() {
                return Err(Error::Usage(format!(
                    "{what}: more than one keysource raw key"
                )));
            }
            key = Some(parse_hex_key(v, what)?);
        }
    }
    match key {
        Some(key) => Ok(KeyFile { zone: None, key }),
        None => Err(Error::Usage(format!(
            "{what}: neither a kzrescue key file (first line `{KEYFILE_MAGIC_LINE}`) nor a zonecfg export with `add keysource` / `set raw=…`"
        ))),
    }
}

/// Reads a key file. Refuses one that group or others may read or write
/// unless `insecure_perms` is set (like ssh does with private keys).
pub fn read_keyfile(path: &Path, insecure_perms: bool) -> Result<KeyFile> {
    use std::os::unix::fs::PermissionsExt;
    let what = path.display().to_string();
    // a regular file only: a FIFO or device is refused before any read
    let (mut f, meta) = crate::input::open_regular(path, "key file")?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 && !insecure_perms {
        return Err(Error::Refused(format!(
            "key file {what} has mode {mode:04o}: group or others can access it; `chmod 600 {what}` (or pass --insecure-key-perms)"
        )));
    }
    if meta.len() > 64 * 1024 {
        return Err(Error::Usage(format!(
            "key file {what} is {} bytes; a key file is a few lines",
            meta.len()
        )));
    }
    // capacity for the whole cap up front: the secret is never reallocated
    // (and left behind unzeroed); the cap holds on the bytes read
    let mut raw = Zeroizing::new(Vec::with_capacity(64 * 1024 + 1));
    crate::input::read_capped(&mut f, &mut raw, 64 * 1024, "key file", &what)?;
    let text = std::str::from_utf8(&raw)
        .map_err(|_| Error::Usage(format!("key file {what} is not UTF-8 text")))?;
    parse_keyfile(text, &what)
}

/// Writes `key` for `zone` to `path` with mode 0600, created fresh. An
/// existing file is replaced only with `force` (atomically, by rename), and
/// is then kept as `<path>.old`.
pub fn write_keyfile(path: &Path, zone: &str, key: &HostKey, force: bool) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let what = path.display().to_string();
    let text = key.to_keyfile(zone)?;
    let exists = path.symlink_metadata().is_ok();
    if exists && !force {
        return Err(Error::Refused(format!(
            "key file {what} exists; not overwriting it without --force (it may hold the only copy of a key)"
        )));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::Usage(format!("key file {what} has no file name")))?;
    let tmp = dir.join(format!(".{}.kzrescue-new", file_name.to_string_lossy()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| Error::io(format!("create key file {}", tmp.display()), e))?;
    let res = f
        .write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(format!("write key file {}", tmp.display()), e));
    drop(f);
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if !force {
        // Link instead of rename so that a file created meanwhile is not replaced.
        std::fs::hard_link(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(format!("create key file {what}"), e)
        })?;
        let _ = std::fs::remove_file(&tmp);
    } else {
        if exists {
            // Keep the replaced key: it may still seal host data somewhere.
            let old = dir.join(format!("{}.old", file_name.to_string_lossy()));
            let _ = std::fs::remove_file(&old);
            std::fs::hard_link(path, &old).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                Error::io(
                    format!("keep the replaced key file as {}", old.display()),
                    e,
                )
            })?;
        }
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(format!("replace key file {what}"), e)
        })?;
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_key() -> HostKey {
        let mut b = *b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f";
        let k = HostKey::from_bytes(&mut b);
        assert_eq!(b, [0u8; 16], "caller's copy is zeroized");
        k
    }

    #[test]
    fn key_id_is_sha256_prefix() {
        let k = test_key();
        let mut h = Sha256::new();
        h.update(b"kzrescue hostdata key id v1");
        h.update((0u8..16).collect::<Vec<_>>());
        assert_eq!(k.id().0[..], h.finalize()[..8]);
    }

    #[test]
    fn keyfile_round_trip_and_no_leak_in_debug() {
        let k = test_key();
        let text = k.to_keyfile("kzone1").unwrap();
        assert_eq!(
            text.as_str(),
            "kzrescue-hostdata-key 1\nzone kzone1\naes-128-ccm 000102030405060708090a0b0c0d0e0f\n"
        );
        let kf = parse_keyfile(&text, "t").unwrap();
        assert_eq!(kf.zone.as_deref(), Some("kzone1"));
        assert_eq!(kf.key.id(), k.id());
        let dbg = format!("{:?}", kf);
        assert!(!dbg.contains("0102030405"), "{dbg}");
    }

    #[test]
    fn zonecfg_keysource_is_read() {
        let k = test_key();
        let export = format!(
            "create -b\nset brand=solaris-kz\n{}add suspend\nset path=/x\nend\n",
            k.to_zonecfg_keysource().as_str()
        );
        let kf = parse_keyfile(&export, "export").unwrap();
        assert_eq!(kf.zone, None);
        assert_eq!(kf.key.id(), k.id());
    }

    #[test]
    fn bad_key_text_errors_do_not_quote_the_key() {
        let text =
            "kzrescue-hostdata-key 1\nzone z\naes-128-ccm 00112233445566778899aabbccddeezz\n";
        let e = parse_keyfile(text, "f").unwrap_err().to_string();
        assert!(e.contains("not hexadecimal"), "{e}");
        assert!(!e.contains("00112233"), "{e}");
        let short = "kzrescue-hostdata-key 1\naes-128-ccm 0011\n";
        assert!(parse_keyfile(short, "f").is_err());
        assert!(parse_keyfile("hello\n", "f").is_err());
        let dup = "kzrescue-hostdata-key 1\naes-128-ccm 000102030405060708090a0b0c0d0e0f\naes-128-ccm 000102030405060708090a0b0c0d0e0f\n";
        assert!(parse_keyfile(dup, "f").is_err());
    }

    #[test]
    fn zone_names() {
        assert!(check_zone_name("kzone1").is_ok());
        assert!(check_zone_name("a.b-c_d").is_ok());
        assert!(check_zone_name("").is_err());
        assert!(check_zone_name("-x").is_err());
        assert!(check_zone_name("a b").is_err());
        assert!(check_zone_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn write_refuses_overwrite_and_read_refuses_open_perms() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kzone1");
        let k = HostKey::generate().unwrap();
        write_keyfile(&p, "kzone1", &k, false).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_keyfile(&p, false).unwrap().key.id(), k.id());
        let k2 = HostKey::generate().unwrap();
        assert!(matches!(
            write_keyfile(&p, "kzone1", &k2, false),
            Err(Error::Refused(_))
        ));
        assert_eq!(read_keyfile(&p, false).unwrap().key.id(), k.id());
        write_keyfile(&p, "kzone1", &k2, true).unwrap();
        assert_eq!(read_keyfile(&p, false).unwrap().key.id(), k2.id());
        let old = dir.path().join("kzone1.old");
        assert_eq!(read_keyfile(&old, false).unwrap().key.id(), k.id());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = read_keyfile(&p, false).unwrap_err();
        assert!(matches!(e, Error::Refused(_)), "{e}");
        assert!(e.to_string().contains("0640"), "{e}");
        assert_eq!(read_keyfile(&p, true).unwrap().key.id(), k2.id());
    }
}
