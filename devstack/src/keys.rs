//! The stack's API keys: the legacy JWTs (HS256 over the well-known local
//! secret) and the current `sb_publishable_…` / `sb_secret_…` keys.
//!
//! The anon and service-role keys are derived from the secret with the exact
//! header and claims of Supabase's local keys, byte for byte, so they come out
//! as the well-known values every Supabase client example uses. That is why
//! signing is written out here rather than left to a JWT crate that orders the
//! JSON its own way.

use crate::config::JWT_SECRET;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Expiry of the local project keys (the value Supabase's local keys carry).
const PROJECT_KEY_EXPIRY: i64 = 1_983_812_996;

/// The publishable key: the Supabase CLI's well-known local value. Safe in a
/// browser; the gateway turns it into the anon JWT.
pub const PUBLISHABLE_KEY: &str = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";

/// The secret key: the Supabase CLI's well-known local value. Server-side
/// only; the gateway turns it into the service-role JWT.
pub const SECRET_KEY: &str = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";

/// `SUPABASE_JWKS` as a function sees it. The stack signs with an HS256
/// secret only, and a JWKS never publishes symmetric keys, so the set is
/// empty, as on a hosted project that has no asymmetric signing key.
pub const JWKS: &str = r#"{"keys":[]}"#;

/// Whether `text` is a UUID in its usual text form (a user or session id).
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|group| group.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|group| group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The JWT a project key stands for when it reaches PostgREST, as
/// Supabase's gateway translates it; `None` when `apikey` is no key of this
/// project.
pub fn bearer_for_api_key(apikey: &str) -> Option<String> {
    match apikey {
        PUBLISHABLE_KEY => Some(anon_key()),
        SECRET_KEY => Some(service_role_key()),
        legacy if legacy == anon_key() || legacy == service_role_key() => Some(legacy.to_string()),
        _ => None,
    }
}

/// `{"default": key}`: the shape of `SUPABASE_PUBLISHABLE_KEYS` and
/// `SUPABASE_SECRET_KEYS`.
pub fn key_map(key: &str) -> String {
    json!({ "default": key }).to_string()
}

/// The anon key (role `anon`).
pub fn anon_key() -> String {
    project_key("anon")
}

/// The service-role key (role `service_role`, bypasses RLS).
pub fn service_role_key() -> String {
    project_key("service_role")
}

fn project_key(role: &str) -> String {
    sign(&format!(
        r#"{{"iss":"supabase-demo","role":"{role}","exp":{PROJECT_KEY_EXPIRY}}}"#
    ))
}

/// A token for a signed-in user; `admin` puts `role: admin` in
/// `app_metadata`, the claim the product trusts (never `user_metadata`).
pub fn user_token(user_id: &str, admin: bool, now: i64) -> String {
    let mut app_metadata = json!({ "provider": "email", "providers": ["email"] });
    if admin {
        app_metadata["role"] = json!("admin");
    }
    let claims = json!({
        "iss": "supabase-demo",
        "sub": user_id,
        "aud": "authenticated",
        "role": "authenticated",
        "email": format!("{user_id}@example.test"),
        "app_metadata": app_metadata,
        "user_metadata": {},
        "iat": now,
        "exp": now + 24 * 3600,
    });
    sign(&claims.to_string())
}

/// Signs a JSON claims set as it is written, with the stack's secret.
pub fn sign(claims_json: &str) -> String {
    let signing_input = format!(
        "{}.{}",
        BASE64URL.encode(HEADER),
        BASE64URL.encode(claims_json)
    );
    let signature = mac().chain_update(signing_input.as_bytes()).finalize();
    format!(
        "{signing_input}.{}",
        BASE64URL.encode(signature.into_bytes())
    )
}

fn mac() -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(JWT_SECRET.as_bytes()).expect("HMAC takes any key length")
}

/// The claims of an HS256 token signed with the stack's secret and not
/// expired at `now` (seconds); `None` for anything else.
pub fn verify(token: &str, now: i64) -> Option<Value> {
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (header, claims) = signing_input.split_once('.')?;
    let header: Value = serde_json::from_slice(&BASE64URL.decode(header).ok()?).ok()?;
    if header["alg"] != "HS256" {
        return None;
    }
    mac()
        .chain_update(signing_input.as_bytes())
        .verify_slice(&BASE64URL.decode(signature).ok()?)
        .ok()?;
    let claims: Value = serde_json::from_slice(&BASE64URL.decode(claims).ok()?).ok()?;
    match claims["exp"].as_i64() {
        Some(exp) if exp <= now => None,
        _ => Some(claims),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn project_keys_are_supabases_well_known_local_keys() {
        assert_eq!(
            anon_key(),
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
        );
        assert_eq!(
            service_role_key(),
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU"
        );
    }

    #[test]
    fn new_api_keys_stand_for_the_legacy_jwts_and_nothing_else_passes() {
        assert_eq!(bearer_for_api_key(PUBLISHABLE_KEY), Some(anon_key()));
        assert_eq!(bearer_for_api_key(SECRET_KEY), Some(service_role_key()));
        assert_eq!(bearer_for_api_key(&anon_key()), Some(anon_key()));
        assert_eq!(
            bearer_for_api_key(&service_role_key()),
            Some(service_role_key())
        );
        assert_eq!(bearer_for_api_key("sb_secret_guess"), None);
        assert_eq!(bearer_for_api_key(&user_token("u", false, NOW)), None);
        assert_eq!(
            key_map(SECRET_KEY),
            format!(r#"{{"default":"{SECRET_KEY}"}}"#)
        );
    }

    #[test]
    fn user_tokens_verify_and_carry_the_admin_claim() {
        let admin = verify(&user_token("u1", true, NOW), NOW).unwrap();
        assert_eq!(admin["sub"], "u1");
        assert_eq!(admin["app_metadata"]["role"], "admin");
        let plain = verify(&user_token("u2", false, NOW), NOW).unwrap();
        assert!(plain["app_metadata"].get("role").is_none());
    }

    #[test]
    fn tampered_expired_and_foreign_tokens_are_refused() {
        let token = service_role_key();
        assert!(verify(&token, NOW).is_some());
        assert!(verify(&format!("{token}x"), NOW).is_none());
        assert!(verify(&user_token("u", false, NOW), NOW + 25 * 3600).is_none());
        assert!(verify("not-a-jwt", NOW).is_none());
        assert!(verify("a.b.c", NOW).is_none());
    }
}
