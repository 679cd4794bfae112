//! Comparing secrets without telling an attacker how close a guess came.
//!
//! Used for the callback token of a request and for the secret key the worker accepts from
//! pg_cron: both are compared against guesses arriving over the network.

/// Whether `given` equals `expected`, in time that depends only on their lengths.
///
/// Every byte is compared whatever the earlier ones were; a length mismatch is refused after
/// the same walk over `expected`. Empty secrets never match: an unset secret must not let an
/// empty guess in.
pub fn constant_time_eq(expected: &str, given: &str) -> bool {
    let (expected, given) = (expected.as_bytes(), given.as_bytes());
    let mut difference = u8::from(expected.len() != given.len() || expected.is_empty());
    for (i, &byte) in expected.iter().enumerate() {
        difference |= byte ^ given.get(i).copied().unwrap_or(!byte);
    }
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_secret_matches() {
        assert!(constant_time_eq("3f9a0c", "3f9a0c"));
        assert!(!constant_time_eq("3f9a0c", "3f9a0d"));
        assert!(!constant_time_eq("3f9a0c", "3f9a0"));
        assert!(!constant_time_eq("3f9a0c", "3f9a0c0"));
        assert!(!constant_time_eq("3f9a0c", ""));
        assert!(!constant_time_eq("", ""), "an empty secret lets nobody in");
    }
}
