//! Parsers for command-line values: bootstrap addresses, `key=value` configs,
//! `topic[:p,p]` selections and ISO 8601 datetimes (no date library needed).

/// `host:port` or `[v6]:port` → (host without brackets, port).
pub fn split_host_port(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let port = port.parse().ok()?;
    (!host.is_empty() && (!host.contains(':') || addr.starts_with('['))).then_some((host, port))
}

/// Comma-separated, possibly repeated `--bootstrap-server` values → addresses.
pub fn bootstrap_list(values: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for part in values.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|p| !p.is_empty()) {
        if split_host_port(part).is_none() {
            return Err(format!("bootstrap server `{part}` is not host:port"));
        }
        out.push(part.to_string());
    }
    if out.is_empty() {
        return Err("no bootstrap server given".into());
    }
    Ok(out)
}

/// `key=value` (the value may itself contain `=`).
pub fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not key=value")),
    }
}

/// `topic` (every partition) or `topic:0,2` (those partitions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSelection {
    pub topic: String,
    pub partitions: Option<Vec<i32>>,
}

pub fn topic_selection(s: &str) -> Result<TopicSelection, String> {
    let (topic, partitions) = match s.split_once(':') {
        None => (s, None),
        Some((topic, list)) => {
            let parsed: Result<Vec<i32>, _> = list.split(',').map(|p| p.trim().parse::<i32>()).collect();
            match parsed {
                Ok(mut ps) if !ps.is_empty() && ps.iter().all(|p| *p >= 0) => {
                    ps.sort_unstable();
                    ps.dedup();
                    (topic, Some(ps))
                }
                _ => return Err(format!("`{list}` is not a comma list of partition numbers")),
            }
        }
    };
    if topic.is_empty() {
        return Err(format!("`{s}` names no topic"));
    }
    Ok(TopicSelection { topic: topic.to_string(), partitions })
}

/// ISO 8601 date-time → milliseconds since the epoch. Accepts
/// `YYYY-MM-DDTHH:MM[:SS[.fff]]` followed by `Z`, `±HH:MM`, `±HHMM` or nothing
/// (nothing means UTC, unlike Kafka's tool, which takes the local zone), or a bare
/// date `YYYY-MM-DD` (midnight UTC).
pub fn datetime_ms(s: &str) -> Result<i64, String> {
    let bad = || format!("`{s}` is not an ISO 8601 date-time such as 2024-05-01T12:00:00Z");
    let (date, rest) = s.split_once(['T', 't', ' ']).unwrap_or((s, ""));
    let mut d = date.splitn(3, '-');
    let year: i64 = num(d.next(), 4).ok_or_else(bad)?;
    let month: i64 = num(d.next(), 2).filter(|m| (1..=12).contains(m)).ok_or_else(bad)?;
    let day: i64 = num(d.next(), 2).filter(|x| *x >= 1 && *x <= days_in_month(year, month)).ok_or_else(bad)?;
    let (time, offset_s) = split_zone(rest).ok_or_else(bad)?;
    let mut millis_of_day = 0i64;
    if !time.is_empty() {
        let (hms, frac) = time.split_once(['.', ',']).unwrap_or((time, ""));
        let mut t = hms.split(':');
        let h = num(t.next(), 2).filter(|h| *h < 24).ok_or_else(bad)?;
        let m = num(t.next(), 2).filter(|m| *m < 60).ok_or_else(bad)?;
        let sec = match t.next() {
            Some(x) => num(Some(x), 2).filter(|x| *x < 60).ok_or_else(bad)?,
            None if frac.is_empty() => 0,
            None => return Err(bad()),
        };
        if t.next().is_some() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let ms: i64 = format!("{frac:0<3}")[..3].parse().map_err(|_| bad())?;
        millis_of_day = ((h * 60 + m) * 60 + sec) * 1000 + ms;
    } else if offset_s != 0 {
        return Err(bad());
    }
    Ok(days_from_civil(year, month, day) * 86_400_000 + millis_of_day - offset_s * 1000)
}

/// Exactly `digits` ASCII digits.
fn num(part: Option<&str>, digits: usize) -> Option<i64> {
    let p = part?;
    (p.len() == digits && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse().ok())?
}

/// Splits `HH:MM:SS.fff±HH:MM` into the time and the zone offset in seconds.
fn split_zone(rest: &str) -> Option<(&str, i64)> {
    if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        return Some((t, 0));
    }
    let Some(i) = rest.rfind(['+', '-']) else { return Some((rest, 0)) };
    let (time, zone) = rest.split_at(i);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || zone[1..].len() > 5 {
        return None;
    }
    let h = num(Some(&digits[..2]), 2).filter(|h| *h <= 23)?;
    let m = num(Some(&digits[2..]), 2).filter(|m| *m < 60)?;
    Some((time, sign * (h * 3600 + m * 60)))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds since the epoch → `YYYY-MM-DDTHH:MM:SS.fffZ`, for plans and tables.
pub fn format_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, f) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{f:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_addresses() {
        assert_eq!(
            bootstrap_list(&["a:1, b:2".into(), "[::1]:9092".into()]).unwrap(),
            vec!["a:1", "b:2", "[::1]:9092"]
        );
        assert_eq!(split_host_port("[::1]:9092"), Some(("::1", 9092)));
        bootstrap_list(&["localhost".into()]).unwrap_err();
        bootstrap_list(&["host:port".into()]).unwrap_err();
        bootstrap_list(&[" , ".into()]).unwrap_err();
        bootstrap_list(&["::1:9092".into()]).unwrap_err();
    }

    #[test]
    fn key_values() {
        assert_eq!(key_value("retention.ms=1000").unwrap(), ("retention.ms".into(), "1000".into()));
        assert_eq!(key_value("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(key_value("a=").unwrap(), ("a".into(), "".into()));
        key_value("=1").unwrap_err();
        key_value("novalue").unwrap_err();
    }

    #[test]
    fn topic_selections() {
        assert_eq!(topic_selection("t").unwrap(), TopicSelection { topic: "t".into(), partitions: None });
        assert_eq!(topic_selection("t:2,0,2").unwrap().partitions, Some(vec![0, 2]));
        topic_selection("t:").unwrap_err();
        topic_selection("t:a").unwrap_err();
        topic_selection("t:-1").unwrap_err();
        topic_selection(":1").unwrap_err();
    }

    #[test]
    fn datetimes() {
        assert_eq!(datetime_ms("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(datetime_ms("2024-02-29T12:34:56.789Z").unwrap(), 1_709_210_096_789);
        assert_eq!(datetime_ms("2024-02-29T12:34:56.789").unwrap(), 1_709_210_096_789);
        assert_eq!(datetime_ms("2024-02-29T14:34:56.789+02:00").unwrap(), 1_709_210_096_789);
        assert_eq!(datetime_ms("2024-02-29T07:04:56.789-0530").unwrap(), 1_709_210_096_789);
        assert_eq!(datetime_ms("2024-02-29T12:34Z").unwrap(), 1_709_210_040_000);
        assert_eq!(datetime_ms("2024-02-29").unwrap(), 1_709_164_800_000);
        assert_eq!(datetime_ms("1969-12-31T23:59:59.5Z").unwrap(), -500);
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01",
            "2024-1-01",
            "2024-01-01T25:00",
            "2024-01-01T10",
            "2024-01-01T10:00:00+2",
            "2024-01-01+02:00",
            "yesterday",
            "2024-01-01T10:00:00.12a",
        ] {
            assert!(datetime_ms(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn formats_round_trip() {
        for ms in [0, 1_709_210_096_789, -500, 951_782_400_000, 4_102_444_799_999] {
            assert_eq!(datetime_ms(&format_ms(ms)).unwrap(), ms, "{}", format_ms(ms));
        }
        assert_eq!(format_ms(1_709_210_096_789), "2024-02-29T12:34:56.789Z");
    }
}
