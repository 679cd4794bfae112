//! Lenient readers for provider JSON.
//!
//! Resellers disagree on spelling (`audioUrl` or `audio_url`), on types (a number or a numeric
//! string) and on `null` versus absent. These helpers accept every variant seen so the parsers
//! above them stay short; they never fail, they answer `None`.

use serde_json::Value;

/// The first of `names` present in `object` with a non-null value.
pub(crate) fn field<'a>(object: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names
        .iter()
        .find_map(|name| object.get(name).filter(|v| !v.is_null()))
}

/// A non-blank string, or a number written as text.
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer, from a JSON integer, an integral float or a numeric string.
pub(crate) fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(integral)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(integral))
        }
        _ => None,
    }
}

/// A finite number, from a JSON number or a numeric string.
pub(crate) fn number(value: &Value) -> Option<f64> {
    let n = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

/// `field` then `text`.
pub(crate) fn text_field(object: &Value, names: &[&str]) -> Option<String> {
    field(object, names).and_then(text)
}

fn integral(f: f64) -> Option<i64> {
    // The range check keeps the cast exact; anything larger is not a code or a timestamp.
    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_skips_nulls_and_takes_the_first_spelling() {
        let v = json!({"audioUrl": null, "audio_url": "u"});
        assert_eq!(text_field(&v, &["audioUrl", "audio_url"]), Some("u".into()));
    }

    #[test]
    fn integer_accepts_numbers_and_numeric_strings() {
        assert_eq!(integer(&json!(200)), Some(200));
        assert_eq!(integer(&json!(200.0)), Some(200));
        assert_eq!(integer(&json!("429")), Some(429));
        assert_eq!(integer(&json!(1.5)), None);
        assert_eq!(integer(&json!("x")), None);
    }

    #[test]
    fn number_rejects_non_finite_text() {
        assert_eq!(number(&json!("12.5")), Some(12.5));
        assert_eq!(number(&json!("inf")), None);
    }

    #[test]
    fn text_ignores_blank_strings() {
        assert_eq!(text(&json!("  ")), None);
        assert_eq!(text(&json!(7)), Some("7".into()));
    }
}
