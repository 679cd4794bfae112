//! The submit rules of `POST /api/v1/generate`: required fields, per-model length limits
//! and optional-field ranges, each refusal carrying the body code the reference lists
//! (422 for a missing `callBackUrl`, 413 for a text over its limit, 400 otherwise).

use serde_json::{Map, Value};

/// A refused submit: body code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub code: u16,
    pub msg: String,
}

fn reject(code: u16, msg: impl Into<String>) -> Rejection {
    Rejection {
        code,
        msg: msg.into(),
    }
}

/// An accepted submit, as the rest of the simulator needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateParams {
    pub custom_mode: bool,
    pub instrumental: bool,
    pub model: String,
    pub prompt: String,
    pub style: String,
    pub title: String,
    pub callback_url: String,
}

/// Length limits in characters for one model.
struct Limits {
    custom_prompt: usize,
    style: usize,
    title: usize,
}

const NON_CUSTOM_PROMPT: usize = 500;

fn limits(model: &str) -> Limits {
    // V3_5 and V4 are the older generation: shorter lyrics and style.
    let old = matches!(model, "V3_5" | "V4");
    // V4_5ALL keeps the 80-character title although it is otherwise a V4_5 model.
    let long_title = matches!(model, "V4_5" | "V4_5PLUS" | "V5" | "V5_5");
    Limits {
        custom_prompt: if old { 3000 } else { 5000 },
        style: if old { 200 } else { 1000 },
        title: if long_title { 100 } else { 80 },
    }
}

/// Checks in a fixed order (callBackUrl, flags, model, presence, lengths, optional
/// fields) so that a request with several faults always gets the same answer.
pub fn check(body: &Value, models: &[String]) -> Result<GenerateParams, Rejection> {
    let obj = body
        .as_object()
        .ok_or_else(|| reject(400, "The request body must be a JSON object."))?;
    let callback_url = text(obj, "callBackUrl")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| reject(422, "Please enter callBackUrl."))?;
    let custom_mode = flag(obj, "customMode")?;
    let instrumental = flag(obj, "instrumental")?;
    let model = text(obj, "model")?.ok_or_else(|| reject(400, "Please enter model."))?;
    if !models.iter().any(|m| m == &model) {
        return Err(reject(400, format!("Unsupported model: {model}.")));
    }
    let prompt = text(obj, "prompt")?.unwrap_or_default();
    let style = text(obj, "style")?.unwrap_or_default();
    let title = text(obj, "title")?.unwrap_or_default();
    let params = GenerateParams {
        custom_mode,
        instrumental,
        model,
        prompt,
        style,
        title,
        callback_url,
    };
    check_presence(&params)?;
    check_lengths(&params)?;
    check_optional(obj)?;
    Ok(params)
}

fn check_presence(p: &GenerateParams) -> Result<(), Rejection> {
    let missing = |s: &str| s.trim().is_empty();
    if p.custom_mode {
        if missing(&p.style) {
            return Err(reject(400, "Please enter style."));
        }
        if missing(&p.title) {
            return Err(reject(400, "Please enter title."));
        }
        if !p.instrumental && missing(&p.prompt) {
            return Err(reject(400, "Please enter prompt."));
        }
    } else if missing(&p.prompt) {
        return Err(reject(400, "Please enter prompt."));
    }
    Ok(())
}

fn check_lengths(p: &GenerateParams) -> Result<(), Rejection> {
    let lim = limits(&p.model);
    let prompt_max = if p.custom_mode {
        lim.custom_prompt
    } else {
        NON_CUSTOM_PROMPT
    };
    too_long("prompt", &p.prompt, prompt_max, &p.model)?;
    if p.custom_mode {
        too_long("style", &p.style, lim.style, &p.model)?;
        too_long("title", &p.title, lim.title, &p.model)?;
    }
    Ok(())
}

fn too_long(field: &str, value: &str, max: usize, model: &str) -> Result<(), Rejection> {
    let len = value.chars().count();
    if len > max {
        return Err(reject(
            413,
            format!("The {field} is too long: {len} characters, the limit is {max} for {model}."),
        ));
    }
    Ok(())
}

fn check_optional(obj: &Map<String, Value>) -> Result<(), Rejection> {
    text(obj, "negativeTags")?;
    if let Some(g) = text(obj, "vocalGender")? {
        if g != "m" && g != "f" {
            return Err(reject(400, "vocalGender must be \"m\" or \"f\"."));
        }
    }
    for field in ["styleWeight", "weirdnessConstraint", "audioWeight"] {
        match obj.get(field) {
            None | Some(Value::Null) => {}
            Some(v) => match v.as_f64() {
                Some(x) if (0.0..=1.0).contains(&x) => {}
                _ => {
                    return Err(reject(
                        400,
                        format!("{field} must be a number from 0 to 1."),
                    ))
                }
            },
        }
    }
    Ok(())
}

/// An optional string field: absent and `null` are `None`, another type is refused.
fn text(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, Rejection> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(reject(400, format!("{field} must be a string."))),
    }
}

/// A required boolean field.
fn flag(obj: &Map<String, Value>, field: &str) -> Result<bool, Rejection> {
    match obj.get(field) {
        None | Some(Value::Null) => Err(reject(400, format!("Please enter {field}."))),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(reject(400, format!("{field} must be a boolean."))),
    }
}

/// The first banned word found in prompt, style or title, compared case-insensitively.
pub fn banned_word<'a>(p: &GenerateParams, banned: &'a [String]) -> Option<&'a str> {
    let haystack = format!("{}\n{}\n{}", p.prompt, p.style, p.title).to_lowercase();
    banned
        .iter()
        .find(|w| !w.is_empty() && haystack.contains(&w.to_lowercase()))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn models() -> Vec<String> {
        ["V4", "V4_5", "V4_5ALL", "V5"].map(String::from).to_vec()
    }

    fn code(body: Value) -> u16 {
        check(&body, &models()).map_or_else(|r| r.code, |_| 200)
    }

    fn custom(model: &str, prompt: usize, style: usize, title: usize) -> Value {
        json!({"customMode": true, "instrumental": false, "model": model,
               "callBackUrl": "http://cb", "prompt": "p".repeat(prompt),
               "style": "s".repeat(style), "title": "t".repeat(title)})
    }

    #[test]
    fn callback_url_first_then_flags_then_model() {
        assert_eq!(code(json!({})), 422);
        assert_eq!(code(json!({"callBackUrl": " "})), 422);
        assert_eq!(code(json!({"callBackUrl": "u"})), 400);
        let base = json!({"callBackUrl": "u", "customMode": false, "instrumental": false,
                          "model": "V9", "prompt": "x"});
        assert_eq!(code(base), 400);
    }

    #[test]
    fn per_model_limits() {
        assert_eq!(code(custom("V4", 3000, 200, 80)), 200);
        assert_eq!(code(custom("V4", 3001, 1, 1)), 413);
        assert_eq!(code(custom("V4", 1, 201, 1)), 413);
        assert_eq!(code(custom("V4", 1, 1, 81)), 413);
        assert_eq!(code(custom("V4_5", 5000, 1000, 100)), 200);
        assert_eq!(code(custom("V4_5", 5001, 1, 1)), 413);
        assert_eq!(code(custom("V5", 1, 1, 101)), 413);
        assert_eq!(code(custom("V4_5ALL", 1, 1, 81)), 413);
    }

    #[test]
    fn non_custom_prompt_limit_counts_characters() {
        let ok = json!({"customMode": false, "instrumental": true, "model": "V5",
                        "callBackUrl": "u", "prompt": "é".repeat(500)});
        assert_eq!(code(ok), 200);
        let long = json!({"customMode": false, "instrumental": true, "model": "V5",
                          "callBackUrl": "u", "prompt": "é".repeat(501)});
        assert_eq!(code(long), 413);
    }

    #[test]
    fn optional_ranges() {
        let mut b = custom("V5", 1, 1, 1);
        b["audioWeight"] = json!(1.5);
        assert_eq!(code(b.clone()), 400);
        b["audioWeight"] = json!(0.5);
        b["vocalGender"] = json!("x");
        assert_eq!(code(b), 400);
    }

    #[test]
    fn finds_banned_words() {
        let p = check(&custom("V5", 3, 1, 1), &models()).unwrap();
        assert_eq!(banned_word(&p, &["PPP".into()]), Some("PPP"));
        assert_eq!(banned_word(&p, &["zzz".into(), String::new()]), None);
    }
}
