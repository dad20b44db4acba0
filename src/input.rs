//! Reading the small files a user hands kzrescue — undo journals, zone
//! configurations, manifests, key and secret files — without trusting
//! them to be what their name says.
//!
//! Only a regular file (or `-`, standard input, when the caller allows it)
//! is read. The file is opened with `O_NONBLOCK`, so a FIFO cannot hold the
//! open forever, and refused by `fstat` unless it is regular: a device
//! (`/dev/zero`) or a FIFO gets one clear line. The size cap is enforced on
//! the bytes actually read, not on `st_size` (which is 0 for a device, and
//! may change under a file still being written): at most `cap` bytes are
//! ever held, whatever the file says about itself.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Cap on a zone configuration (zonecfg export or XML): 16 MiB.
pub const MAX_CONFIG: u64 = 16 << 20;
/// Cap on a manifest read by `manifest diff`: 4 GiB (a million paths are
/// a few hundred MiB of JSON).
pub const MAX_MANIFEST: u64 = 4 << 30;

/// The file type of `m` in words, for refusals.
fn kind(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading if, and only if, it is a regular file.
/// `what` names the file's role in messages ("undo journal").
pub fn open_regular(path: &Path, what: &str) -> Result<(File, std::fs::Metadata)> {
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| Error::io(format!("open {what} {shown}"), e))?;
    let m = f
        .metadata()
        .map_err(|e| Error::io(format!("stat {what} {shown}"), e))?;
    if !m.is_file() {
        return Err(Error::Usage(format!(
            "{what} {shown} is {}: only a regular file is read",
            kind(&m)
        )));
    }
    Ok((f, m))
}

/// Appends at most `cap` bytes from `r` to `buf`; more is an error naming
/// `what` and `shown`. `buf` is grown once, to what was read.
pub fn read_capped(
    r: &mut dyn Read,
    buf: &mut Vec<u8>,
    cap: u64,
    what: &str,
    shown: &str,
) -> Result<()> {
    let start = buf.len();
    let mut limited = r.take(cap.saturating_add(1));
    loop {
        let mut chunk = [0u8; 64 << 10];
        let n = match limited.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(format!("read {what} {shown}"), e)),
        };
        if (buf.len() - start + n) as u64 > cap {
            return Err(Error::Usage(format!(
                "{what} {shown} holds more than {cap} bytes: not read (at most {cap})"
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

/// Reads the regular file `path` (or standard input for `-` when
/// `allow_stdin`), at most `cap` bytes.
pub fn read_bounded(path: &Path, what: &str, cap: u64, allow_stdin: bool) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if allow_stdin && path.as_os_str() == "-" {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        read_capped(&mut lock, &mut buf, cap, what, "(standard input)")?;
        return Ok(buf);
    }
    let (mut f, m) = open_regular(path, what)?;
    let shown = path.display().to_string();
    // A regular file that already says it is too big is refused unread; the
    // cap is enforced again on the bytes read (a file may grow, or report
    // no size at all).
    if m.len() > cap {
        return Err(Error::Usage(format!(
            "{what} {shown} holds more than {cap} bytes ({}): not read (at most {cap})",
            m.len()
        )));
    }
    buf.reserve(m.len() as usize);
    read_capped(&mut f, &mut buf, cap, what, &shown)?;
    Ok(buf)
}

/// [`read_bounded`] of a text file: the bytes must be UTF-8.
pub fn read_text(path: &Path, what: &str, cap: u64, allow_stdin: bool) -> Result<String> {
    let b = read_bounded(path, what, cap, allow_stdin)?;
    String::from_utf8(b).map_err(|e| {
        Error::corrupt(
            format!("{what} {}", path.display()),
            e.utf8_error().valid_up_to() as u64,
            "not UTF-8 text",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_fifos_are_refused_and_the_cap_counts_bytes_read() {
        let e = read_bounded(Path::new("/dev/zero"), "journal", 1 << 20, false).unwrap_err();
        assert!(e.to_string().contains("is a character device"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let st = std::process::Command::new("mkfifo").arg(&fifo).status();
        if st.map(|s| s.success()).unwrap_or(false) {
            let e = read_bounded(&fifo, "journal", 1 << 20, false).unwrap_err();
            assert!(e.to_string().contains("is a FIFO"), "{e}");
        }
        let p = dir.path().join("f");
        std::fs::write(&p, vec![7u8; 1000]).unwrap();
        assert_eq!(read_bounded(&p, "x", 1000, false).unwrap().len(), 1000);
        let e = read_bounded(&p, "x", 999, false).unwrap_err();
        assert!(e.to_string().contains("more than 999 bytes"), "{e}");
        // /proc files are regular with st_size 0: the cap still holds
        let e = read_bounded(Path::new("/proc/self/maps"), "x", 10, false).unwrap_err();
        assert!(e.to_string().contains("more than 10 bytes"), "{e}");
    }
}
