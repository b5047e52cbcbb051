//! The mail parts of a `git format-patch` file: RFC 2822 dates, RFC 2047 encoded words for
//! non-ASCII names and subjects, and `Name <email>` addresses, written the way git writes them so
//! `git am` reads them back unchanged.

use anyhow::{bail, Result};

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A point in time with the author's UTC offset, as git stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Time {
    /// Seconds since the Unix epoch.
    pub seconds: i64,
    /// The UTC offset in minutes.
    pub offset: i32,
}

impl Time {
    /// `Tue, 14 Oct 2025 10:00:00 +0000`, in the time's own offset.
    pub fn rfc2822(self) -> String {
        let local = self.seconds + i64::from(self.offset) * 60;
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let sign = if self.offset < 0 { '-' } else { '+' };
        let off = self.offset.abs();
        format!(
            "{}, {d} {} {y} {:02}:{:02}:{:02} {sign}{:02}{:02}",
            DAYS[days.rem_euclid(7) as usize],
            MONTHS[(m - 1) as usize],
            secs / 3600,
            secs % 3600 / 60,
            secs % 60,
            off / 60,
            off % 60
        )
    }

    /// `YYYY-MM-DD`, the day in the time's own offset (DEP-3's `Last-Update`).
    pub fn date(self) -> String {
        let local = self.seconds + i64::from(self.offset) * 60;
        let (y, m, d) = civil_from_days(local.div_euclid(86_400));
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// Parses an RFC 2822 date as git writes it (the weekday is optional).
    pub fn parse_rfc2822(text: &str) -> Result<Time> {
        let text = text.trim();
        let rest = match text.split_once(", ") {
            Some((_, rest)) => rest,
            None => text,
        };
        let parts: Vec<&str> = rest.split_whitespace().collect();
        let [day, month, year, clock, zone] = parts[..] else {
            bail!("`{text}` is not a date like `Tue, 14 Oct 2025 10:00:00 +0000`");
        };
        let bad =
            || anyhow::anyhow!("`{text}` is not a date like `Tue, 14 Oct 2025 10:00:00 +0000`");
        let d: i64 = day.parse().map_err(|_| bad())?;
        let m = MONTHS.iter().position(|x| *x == month).ok_or_else(bad)? as i64 + 1;
        let y: i64 = year.parse().map_err(|_| bad())?;
        let hms: Vec<i64> = clock
            .split(':')
            .map(|p| p.parse().map_err(|_| bad()))
            .collect::<Result<_>>()?;
        let [h, min, s] = hms[..] else {
            return Err(bad());
        };
        let (sign, digits) = match zone.split_at_checked(1) {
            Some(("+", d)) => (1, d),
            Some(("-", d)) => (-1, d),
            _ => return Err(bad()),
        };
        if digits.len() != 4 || !(1..=31).contains(&d) || h > 23 || min > 59 || s > 60 {
            return Err(bad());
        }
        let zone: i32 = digits.parse().map_err(|_| bad())?;
        let offset = sign * (zone / 100 * 60 + zone % 100);
        let local = days_from_civil(y, m, d) * 86_400 + h * 3600 + min * 60 + s;
        Ok(Time {
            seconds: local - i64::from(offset) * 60,
            offset,
        })
    }
}

/// Howard Hinnant's `days_from_civil`: days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Whether a header value must be an encoded word to read back as itself: non-ASCII text, control
/// characters, text that looks like an encoded word, and leading or trailing white space (which a
/// reader trims).
fn needs_encoding(text: &str) -> bool {
    !text.is_ascii()
        || text.contains("=?")
        || text.chars().any(|c| c.is_ascii_control())
        || text.trim() != text
}

/// A header value as git writes it: plain when ASCII, otherwise one RFC 2047 `Q` encoded word.
pub fn encode_header(text: &str) -> String {
    if !needs_encoding(text) {
        return text.to_string();
    }
    let mut out = String::from("=?UTF-8?q?");
    for b in text.bytes() {
        match b {
            b' ' => out.push('_'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'!' | b'*' | b'+' | b'-' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("={b:02X}")),
        }
    }
    out.push_str("?=");
    out
}

/// Decodes RFC 2047 encoded words (`Q` encoding, UTF-8 or ASCII charset) in a header value;
/// whitespace between adjacent encoded words is dropped, as the RFC says.
pub fn decode_header(text: &str) -> Result<String> {
    let mut out = String::new();
    let mut rest = text;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, word) = rest.split_at(start);
        if !(after_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        let inner = &word[2..];
        let parts: Vec<&str> = inner.splitn(3, '?').collect();
        let [charset, encoding, tail] = parts[..] else {
            bail!("malformed encoded word in `{text}`");
        };
        let Some(end) = tail.find("?=") else {
            bail!("unterminated encoded word in `{text}`");
        };
        if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("us-ascii") {
            bail!("unsupported charset `{charset}` in `{text}`; use UTF-8");
        }
        if !encoding.eq_ignore_ascii_case("q") {
            bail!("unsupported encoding `{encoding}` in `{text}`; use Q encoding as git does");
        }
        out.push_str(
            &decode_q(&tail[..end])
                .ok_or_else(|| anyhow::anyhow!("invalid Q-encoded text in `{text}`"))?,
        );
        rest = &tail[end + 2..];
        after_word = true;
    }
    out.push_str(rest);
    Ok(out)
}

fn decode_q(s: &str) -> Option<String> {
    let mut bytes = Vec::new();
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        match b {
            b'_' => bytes.push(b' '),
            b'=' => {
                let hex = [it.next()?, it.next()?];
                bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
            }
            _ => bytes.push(b),
        }
    }
    String::from_utf8(bytes).ok()
}

/// `Name <email>` with the name quoted or encoded when it needs to be.
pub fn format_address(name: &str, email: &str) -> String {
    let special = |c: char| "()<>[]:;@\\,.\"".contains(c);
    let name = if needs_encoding(name) {
        encode_header(name)
    } else if name.chars().any(special) {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        name.to_string()
    };
    format!("{name} <{email}>")
}

/// Splits `Name <email>` (name possibly quoted or encoded) into its parts.
pub fn parse_address(text: &str) -> Result<(String, String)> {
    let text = text.trim();
    let (Some(open), true) = (text.rfind('<'), text.ends_with('>')) else {
        bail!("`{text}` is not an address like `Name <email@example.com>`");
    };
    let email = text[open + 1..text.len() - 1].to_string();
    let raw = text[..open].trim();
    let name = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(quoted) => {
            let mut name = String::new();
            let mut chars = quoted.chars();
            while let Some(c) = chars.next() {
                name.push(if c == '\\' {
                    chars.next().unwrap_or('\\')
                } else {
                    c
                });
            }
            name
        }
        None => decode_header(raw)?,
    };
    if email.is_empty() || name.is_empty() {
        bail!("`{text}` is not an address like `Name <email@example.com>`");
    }
    Ok((name, email))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_in_their_own_offset() {
        let t = Time {
            seconds: 1_760_436_000,
            offset: 120,
        };
        assert_eq!(t.rfc2822(), "Tue, 14 Oct 2025 12:00:00 +0200");
        assert_eq!(t.date(), "2025-10-14");
        assert_eq!(Time::parse_rfc2822(&t.rfc2822()).unwrap(), t);
        let west = Time {
            seconds: 0,
            offset: -330,
        };
        assert_eq!(west.rfc2822(), "Wed, 31 Dec 1969 18:30:00 -0530");
        assert_eq!(Time::parse_rfc2822(&west.rfc2822()).unwrap(), west);
        assert!(Time::parse_rfc2822("yesterday").is_err());
        assert!(Time::parse_rfc2822("Tue, 14 Foo 2025 12:00:00 +0200").is_err());
    }

    #[test]
    fn non_ascii_headers_are_encoded_and_decoded() {
        let s = "Corrige la sécurité = ok?";
        let e = encode_header(s);
        assert!(e.is_ascii(), "{e}");
        assert_eq!(decode_header(&e).unwrap(), s);
        assert_eq!(encode_header("plain"), "plain");
        assert_eq!(
            decode_header("=?UTF-8?q?J=C3=B6rg?= =?UTF-8?q?_M?=").unwrap(),
            "Jörg M"
        );
    }

    #[test]
    fn addresses_quote_specials() {
        let a = format_address("Doe, \"JJ\"", "jj@example.com");
        assert_eq!(a, "\"Doe, \\\"JJ\\\"\" <jj@example.com>");
        assert_eq!(
            parse_address(&a).unwrap(),
            ("Doe, \"JJ\"".to_string(), "jj@example.com".to_string())
        );
        let b = format_address("Jörg", "j@example.com");
        assert_eq!(parse_address(&b).unwrap().0, "Jörg");
        assert!(parse_address("no address").is_err());
    }
}
