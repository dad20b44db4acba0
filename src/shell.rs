//! Words of a POSIX shell command line: the commands kzrescue suggests
//! (repairs, recoveries, zoneadm steps) quote their arguments here, once.

/// `s` as one word of a POSIX `sh` command line: as it is when every
/// character is a letter, a digit or one of `/._-:@,=%+` (none of which the
/// shell treats specially), otherwise in single quotes with each `'`
/// written `'\''`. The empty string is `''`, so it stays a word.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:@,=%+".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn plain_words_stay_as_they_are() {
        assert_eq!(quote("pool/fs@snap"), "pool/fs@snap");
        assert_eq!(quote("/dev/rdsk/c0t0d0s0"), "/dev/rdsk/c0t0d0s0");
        assert_eq!(
            quote("iscsi://h:3260/iqn.x,1=a+b%20"),
            "iscsi://h:3260/iqn.x,1=a+b%20"
        );
    }

    #[test]
    fn anything_the_shell_would_read_is_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        for s in [
            "$HOME", "a*", "~x", "a;b", "`x`", "a\nb", "é", "!x", "a\\b", "#",
        ] {
            assert_eq!(quote(s), format!("'{s}'"), "{s}");
        }
    }
}
