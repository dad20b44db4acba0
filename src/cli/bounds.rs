//! Bounds on the numbers a command line may carry: every numeric flag is
//! parsed here (or by clap into a type whose whole range is meaningful), so
//! that no value reaches a `Duration`, an allocation or a thread pool
//! outside the range it was checked for.

/// Most hashing threads `--jobs` gets: more only cost memory and switches.
pub const MAX_JOBS: usize = 256;

/// Largest Solaris slice / GPT entry number `--slice` may name (GPT holds
/// at most 128 entries by default; a VTOC 8 or 16 slices).
pub const MAX_SLICE: u32 = 127;

/// A byte count: digits with an optional K, M, G, T, P or E suffix (powers
/// of 1024), at most 2^63 bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                'P' => 50,
                'E' => 60,
                _ => return Err(format!("{s}: unknown size suffix {c:?} (K, M, G, T, P, E)")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s} is not a byte count (digits, then K, M, G, T, P or E)"))?;
    n.checked_shl(shift)
        .filter(|v| v >> shift == n && *v <= 1 << 63)
        .ok_or_else(|| format!("{s} is more than 2^63 bytes"))
}

/// `--jobs N`: at least 1; above [`MAX_JOBS`] it is clamped (see
/// [`clamp_jobs`]), so any `usize` parses.
pub fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.trim().parse::<u128>() {
        Ok(0) => Err("--jobs must be at least 1".into()),
        Ok(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        Err(_) => Err(format!("{s} is not a number of threads")),
    }
}

/// The thread count actually used for `jobs`, and whether it was lowered.
pub fn clamp_jobs(jobs: usize) -> (usize, bool) {
    (jobs.clamp(1, MAX_JOBS), jobs > MAX_JOBS)
}

/// `--liveness-interval SECS`: a finite number of seconds in the range
/// every writer and `diagnose` accept.
pub use kzrescue::repair::liveness::parse_interval;

/// `--slice N`: 0 to [`MAX_SLICE`].
pub fn parse_slice(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n <= u64::from(MAX_SLICE) => Ok(n as u32),
        Ok(_) => Err(format!("{s}: a slice number is 0 to {MAX_SLICE}")),
        Err(_) => Err(format!("{s} is not a slice number")),
    }
}

/// `--hostid H`: a hostid in hex (`848611d4`, `0x848611d4`), as
/// `hostid(1)` prints it.
pub fn parse_hostid(s: &str) -> Result<u32, String> {
    kzrescue::hostdata::parse_hostid(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_within_2_pow_63() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("64G"), Ok(64 << 30));
        assert_eq!(parse_size("8E"), Ok(1 << 63));
        assert_eq!(parse_size("9223372036854775808"), Ok(1 << 63));
        assert!(parse_size("9223372036854775809").is_err());
        assert!(parse_size("16E").is_err());
        assert!(parse_size("18446744073709551615").is_err());
        assert!(parse_size("99999999999999999999999").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("1X").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn jobs_clamp_and_slices_stay_in_range() {
        assert!(parse_jobs("0").is_err());
        assert_eq!(parse_jobs("2000"), Ok(2000));
        assert_eq!(clamp_jobs(2000), (MAX_JOBS, true));
        assert_eq!(clamp_jobs(4), (4, false));
        assert_eq!(
            parse_jobs("340282366920938463463374607431768211455"),
            Ok(usize::MAX)
        );
        assert_eq!(parse_slice("127"), Ok(127));
        assert!(parse_slice("4294967296").is_err());
    }
}
