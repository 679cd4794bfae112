//! Passwords as Supabase Auth stores them: bcrypt, cost 10, in the `$2a$`
//! form Go's bcrypt writes, so a hash copied from a hosted project verifies
//! here and one made here verifies there.

use super::errors::AuthError;

/// Go's bcrypt default, the cost Supabase Auth hashes with.
const COST: u32 = 10;

/// Supabase Auth's default minimum password length.
pub const MIN_LENGTH: usize = 6;

/// The `encrypted_password` for a new password; refuses what Supabase Auth
/// refuses rather than storing a hash of something else (bcrypt only reads
/// the first 72 bytes).
pub fn hash(password: &str) -> Result<String, AuthError> {
    if password.chars().count() < MIN_LENGTH {
        return Err(AuthError::WeakPassword);
    }
    let parts = bcrypt::non_truncating_hash_with_result(password, COST)
        .map_err(|_| AuthError::PasswordTooLong)?;
    Ok(parts.format_for_version(bcrypt::Version::TwoA))
}

/// Whether `password` matches a stored hash; a missing or malformed hash
/// matches nothing.
pub fn matches(password: &str, stored: Option<&str>) -> bool {
    stored.is_some_and(|hash| bcrypt::verify(password, hash).unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by libxcrypt (`perl -e 'print crypt("correct horse", ...)'`),
    /// not by the crate under test.
    const KNOWN: &str = "$2a$10$abcdefghijklmnopqrstuu23JPZtHcGhwXSF41f93o/7vBdDut3Xu";

    #[test]
    fn a_known_2a_cost_10_hash_verifies() {
        assert!(matches("correct horse", Some(KNOWN)));
        assert!(!matches("correct horse ", Some(KNOWN)));
        assert!(!matches("Correct horse", Some(KNOWN)));
    }

    #[test]
    fn new_hashes_have_supabases_prefix_and_verify() {
        let hashed = hash("hunter22").unwrap();
        assert!(hashed.starts_with("$2a$10$"), "{hashed}");
        assert_eq!(hashed.len(), 60);
        assert!(matches("hunter22", Some(&hashed)));
        assert!(!matches("hunter23", Some(&hashed)));
    }

    #[test]
    fn short_long_and_missing_passwords_are_refused() {
        assert!(matches!(hash("12345"), Err(AuthError::WeakPassword)));
        assert!(matches!(
            hash(&"x".repeat(73)),
            Err(AuthError::PasswordTooLong)
        ));
        assert!(!matches("anything", None));
        assert!(!matches("anything", Some("not a bcrypt hash")));
    }
}
