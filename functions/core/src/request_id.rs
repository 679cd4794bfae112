//! A request's id as a caller writes it (`?request_id=…`), checked before it reaches the SQL.
//!
//! Postgres refuses a malformed uuid too, but in its own words (`invalid input syntax for
//! type uuid`) and without naming the field; checking here answers the one error shape,
//! naming `request_id`, and spares the database a round trip.

use crate::error::ApiError;

/// Whether `text` is a uuid written the canonical way: 8-4-4-4-12 hex digits, any case.
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == lengths.len()
        && groups
            .iter()
            .zip(lengths)
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The `request_id` a reader asked for, in lower case; a 400 naming it when it is missing
/// or not a uuid.
pub fn parse_request_id(value: Option<&str>) -> Result<String, ApiError> {
    let bad = |message: &str| ApiError::BadInput {
        code: "invalid_request_id",
        field: Some("request_id".into()),
        message: message.to_owned(),
    };
    match value {
        None => Err(bad("request_id is required: ?request_id=<uuid>")),
        Some(id) if is_uuid(id) => Ok(id.to_ascii_lowercase()),
        Some(_) => Err(bad("request_id must be a request's uuid")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b6f3c1e-8a3d-4c55-9d2e-1f7a2b3c4d5e";

    #[test]
    fn a_canonical_uuid_is_read_in_lower_case() {
        assert_eq!(parse_request_id(Some(ID)), Ok(ID.to_owned()));
        assert_eq!(
            parse_request_id(Some(&ID.to_uppercase())),
            Ok(ID.to_owned())
        );
    }

    #[test]
    fn anything_else_is_a_400_naming_request_id() {
        let braced = format!("{{{ID}}}");
        let simple = ID.replace('-', "");
        for value in [
            None,
            Some(""),
            Some("42"),
            Some(&braced),
            Some(&simple),
            Some("é"),
        ] {
            let error = parse_request_id(value).unwrap_err();
            assert_eq!(error.status(), 400, "{value:?}");
            assert!(error.to_string().starts_with("request_id"), "{value:?}");
            let ApiError::BadInput { field, .. } = error else {
                panic!("{value:?}");
            };
            assert_eq!(field.as_deref(), Some("request_id"));
        }
    }
}
