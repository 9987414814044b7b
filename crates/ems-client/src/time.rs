//! Times and durations as users type and read them.

use crate::error::ClientError;

pub use ems_core::clock::unix_now as now;

/// The TTL field of a message living `ttl_secs` from now (the unix time it expires).
pub fn expiry(ttl_secs: u64) -> Result<u32, ClientError> {
    u32::try_from(now().saturating_add(ttl_secs))
        .map_err(|_| ClientError::input(ClientError::WHAT_TTL, "beyond the year 2106"))
}

/// A duration: seconds, or a number with `s`, `m`, `h` or `d` (`90`, `30s`, `5m`, `1h`, `7d`).
pub fn parse_duration(text: &str, what: &'static str) -> Result<u64, ClientError> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => {
            return Err(ClientError::input(
                what,
                format!("{text:?}: use a number with s, m, h or d (e.g. 1h)"),
            ))
        }
    };
    let value: u64 = digits.parse().map_err(|_| {
        ClientError::input(
            what,
            format!("{text:?}: use a number with s, m, h or d (e.g. 1h)"),
        )
    })?;
    value
        .checked_mul(scale)
        .filter(|&secs| secs > 0)
        .ok_or_else(|| ClientError::input(what, format!("{text:?} is not a positive duration")))
}

/// A point in time: unix seconds, `+DURATION` from `now`, or `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn parse_time(text: &str, now: u64, what: &'static str) -> Result<u64, ClientError> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('+') {
        return Ok(now.saturating_add(parse_duration(rest, what)?));
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    parse_utc(text).ok_or_else(|| {
        ClientError::input(
            what,
            format!("{text:?}: use unix seconds, +DURATION or YYYY-MM-DDTHH:MM:SSZ"),
        )
    })
}

fn parse_utc(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.len() != 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || bytes[10] != b'T'
        || bytes[13] != b':'
        || bytes[16] != b':'
        || bytes[19] != b'Z'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<u64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year as i64, month as i64, day as i64);
    Some(days as u64 * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem / 60 % 60,
        rem % 60
    )
}

// Howard Hinnant's civil-date algorithms (proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("90", "ttl").unwrap(), 90);
        assert_eq!(parse_duration("30s", "ttl").unwrap(), 30);
        assert_eq!(parse_duration("5m", "ttl").unwrap(), 300);
        assert_eq!(parse_duration("1h", "ttl").unwrap(), 3_600);
        assert_eq!(parse_duration("2d", "ttl").unwrap(), 172_800);
        for bad in ["", "h", "1w", "-5m", "0", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad, "ttl").is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn times_are_unix_relative_or_utc() {
        assert_eq!(parse_time("1800000000", 5, "at").unwrap(), 1_800_000_000);
        assert_eq!(parse_time("+5m", 1_000, "at").unwrap(), 1_300);
        assert_eq!(
            parse_time("2027-01-15T08:00:00Z", 0, "at").unwrap(),
            1_800_000_000
        );
        assert!(parse_time("2027-13-15T08:00:00Z", 0, "at").is_err());
        assert!(parse_time("tomorrow", 0, "at").is_err());
    }

    #[test]
    fn formatting_inverts_parsing() {
        for secs in [0, 951_782_400, 1_800_000_000, 4_102_444_799] {
            assert_eq!(parse_utc(&format_utc(secs)), Some(secs));
        }
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
