//! Calendar arithmetic for the times stored on disk (uberblock, DSL, znode
//! and host-data times are seconds since 1970-01-01 00:00:00 UTC): one
//! civil-date algorithm for every formatter, UTC only (no time-zone data is
//! read).

/// A UTC calendar time broken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Year (proleptic Gregorian; 0 and negative years before 1 AD).
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Second, 0–59.
    pub second: u32,
    /// Day of the week, 0 = Sunday.
    pub weekday: u32,
}

/// English day names from Sunday, as `asctime()` writes them.
pub const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
/// English month names, as `asctime()` writes them.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Civil {
    /// The UTC calendar time of `secs` seconds since 1970 (negative before),
    /// by the era-based days-to-civil algorithm (400-year cycles of 146 097
    /// days; the year taken to start on 1 March so that the leap day ends it).
    pub fn from_unix(secs: i64) -> Civil {
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        Civil {
            year: yoe + era * 400 + i64::from(month <= 2),
            month: month as u32,
            day: day as u32,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
            // 1970-01-01 was a Thursday
            weekday: (days + 4).rem_euclid(7) as u32,
        }
    }

    /// `YYYY-MM-DD hh:mm:ss`.
    pub fn iso(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// The day name, `Sun`…`Sat`.
    pub fn weekday_name(&self) -> &'static str {
        WEEKDAYS[self.weekday as usize % 7]
    }

    /// The month name, `Jan`…`Dec`.
    pub fn month_name(&self) -> &'static str {
        MONTHS[(self.month as usize + 11) % 12]
    }
}

/// `YYYY-MM-DD hh:mm:ss UTC`, seconds since 1970 (negative before).
pub fn utc(secs: i64) -> String {
    format!("{} UTC", Civil::from_unix(secs).iso())
}

/// An unsigned on-disk time as [`utc`] does (beyond `i64`: the largest).
pub fn utc_unsigned(secs: u64) -> String {
    utc(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// `asctime()` in UTC, as zdb and Solaris `date` print times:
/// `Wed Jun  7 13:14:58 2006`.
pub fn asctime(secs: i64) -> String {
    let c = Civil::from_unix(secs);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        c.weekday_name(),
        c.month_name(),
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.year
    )
}

/// `ls -l --time-style=full-iso` in UTC:
/// `2024-05-01 12:34:56.123456789 +0000`.
pub fn full_iso(secs: i64, nsec: u64) -> String {
    format!(
        "{}.{:09} +0000",
        Civil::from_unix(secs).iso(),
        nsec.min(999_999_999)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_000_000_000), "2001-09-09 01:46:40 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59 UTC");
        assert_eq!(utc_unsigned(1_000_000_000), "2001-09-09 01:46:40 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(
            full_iso(1_714_566_896, 123_456_789),
            "2024-05-01 12:34:56.123456789 +0000"
        );
        let c = Civil::from_unix(1_149_686_098);
        assert_eq!((c.weekday_name(), c.month_name(), c.day), ("Wed", "Jun", 7));
        assert_eq!(Civil::from_unix(-86_400).weekday_name(), "Wed");
        assert_eq!(asctime(1_149_686_098), "Wed Jun  7 13:14:58 2006");
        assert_eq!(asctime(1_397_419_693), "Sun Apr 13 20:08:13 2014");
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970");
        assert!(Civil::from_unix(i64::MAX).year > 0);
    }
}
