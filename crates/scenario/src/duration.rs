//! Durations as people write them in scenario files: `250ms`, `10s`, `1.5s`, `2m`, `-3s`.

use core::time::Duration;

/// Parses a signed duration into nanoseconds; `Err` names what was expected.
pub fn parse_signed_nanos(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let split = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| expected(text))?;
    let (number, unit) = body.split_at(split);
    let value: f64 = number.parse().map_err(|_| expected(text))?;
    let scale = match unit {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        _ => return Err(expected(text)),
    };
    let nanos = (value * scale).round();
    if !nanos.is_finite() || nanos > 1e18 {
        return Err(expected(text));
    }
    Ok(if negative {
        -(nanos as i64)
    } else {
        nanos as i64
    })
}

/// Parses a non-negative duration.
pub fn parse(text: &str) -> Result<Duration, String> {
    let nanos = parse_signed_nanos(text)?;
    if nanos < 0 {
        return Err(format!("a duration that is not negative, found {text:?}"));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

fn expected(text: &str) -> String {
    format!("a duration such as \"250ms\", \"10s\" or \"2m\", found {text:?}")
}

/// The inverse of [`parse`], for summaries: `1.5s`, `250ms`.
pub fn render(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms >= 1000 {
        format!("{:.3}s", d.as_secs_f64())
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_signed_nanos("-3s"), Ok(-3_000_000_000));
        assert!(parse("-3s").is_err());
        assert!(parse("10").is_err());
        assert!(parse("ten s").is_err());
        assert!(parse("5h").is_err());
        assert_eq!(render(Duration::from_millis(1500)), "1.500s");
        assert_eq!(render(Duration::from_secs(10)), "10s");
    }
}
