//! Who is calling: the secret key (pg_cron, another function), an admin (the panel), a
//! signed-in user, or the public.
//!
//! - **The secret key** may come in `apikey` or `Authorization: Bearer`. It is compared in
//!   constant time ([`music_core::secret::constant_time_eq`]) with every accepted key
//!   ([`Env::accepted_keys`]): each `sb_secret_…` of `SUPABASE_SECRET_KEYS` and the legacy
//!   service-role JWT.
//! - **An admin** is a user JWT whose `app_metadata.role` is `admin` or `manager`. The function
//!   cannot check a JWT's signature itself (with `sb_` keys it holds no JWT secret), so the
//!   claim read here only decides whether to ask: the JWT is then used to call the admin-only
//!   `get_suno_api_status` through PostgREST, which verifies the signature and runs the SQL
//!   API's one admin rule (`_music_require_admin`). Success makes the caller an admin; a
//!   refusal makes them a plain user; a bad or expired JWT is 401.
//! - **A user**'s JWT is *not* verified here: whatever it grants is decided where it is used
//!   ([`crate::Store::rpc_as`], or the gateway for `verify_jwt = true` functions).
//! - Anything else (the anon key, a publishable key, nothing) is **the public**.

use music_core::secret::constant_time_eq;
use music_core::ApiError;
use serde_json::{json, Value};

use crate::store::StoreError;
use crate::{Env, Store};

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Holds a secret key of this project.
    Service,
    /// A signed-in admin or manager, confirmed by the SQL API.
    Admin {
        /// Their JWT, to act as them.
        jwt: String,
    },
    /// A signed-in user (JWT not verified here; see the module docs).
    User {
        /// Their JWT, for [`crate::Store::rpc_as`].
        jwt: String,
    },
    /// Anyone else.
    Public,
}

impl Caller {
    /// The secret key or an admin: may ask for work (a probe, a worker run).
    pub fn is_privileged(&self) -> bool {
        matches!(self, Caller::Service | Caller::Admin { .. })
    }

    /// A short name for logs (`service`, `admin`, `user`, `public`).
    pub fn kind(&self) -> &'static str {
        match self {
            Caller::Service => "service",
            Caller::Admin { .. } => "admin",
            Caller::User { .. } => "user",
            Caller::Public => "public",
        }
    }
}

/// Who sent `headers` (see the module docs).
pub async fn identify(
    headers: &worker::Headers,
    env: &Env,
    store: &Store,
) -> Result<Caller, ApiError> {
    let header = |name| headers.get(name).ok().flatten().unwrap_or_default();
    let apikey = header("apikey");
    let authorization = header("authorization");
    let bearer = bearer_token(&authorization).unwrap_or("");
    if is_secret_key(env, &apikey) || is_secret_key(env, bearer) {
        return Ok(Caller::Service);
    }
    let Some(claims) = jwt_claims(bearer) else {
        return Ok(Caller::Public);
    };
    if claims["role"] != "authenticated" {
        return Ok(Caller::Public);
    }
    let jwt = bearer.to_owned();
    if !claims_admin(&claims) {
        return Ok(Caller::User { jwt });
    }
    match store.rpc_as(&jwt, "get_suno_api_status", &json!({})).await {
        Ok(_) => Ok(Caller::Admin { jwt }),
        Err(StoreError::Refused {
            api: ApiError::Forbidden(_),
            ..
        }) => Ok(Caller::User { jwt }),
        Err(StoreError::Refused {
            api: ApiError::Unauthorized(_),
            ..
        }) => Err(ApiError::Unauthorized("invalid or expired JWT".into())),
        Err(other) => Err(other.into()),
    }
}

/// Whether `given` is one of the project's secret keys, in constant time per key.
pub fn is_secret_key(env: &Env, given: &str) -> bool {
    // Walk every key even after a match, so the time says nothing about which one matched.
    env.accepted_keys
        .iter()
        .fold(false, |found, key| constant_time_eq(key, given) | found)
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The claims of a JWT, *unverified*: only to decide what to ask PostgREST.
pub fn jwt_claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    serde_json::from_slice(&base64url_decode(payload)?).ok()
}

fn claims_admin(claims: &Value) -> bool {
    matches!(
        claims["app_metadata"]["role"].as_str(),
        Some("admin" | "manager")
    )
}

/// Decodes unpadded base64url (a JWT part).
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut count) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        bits = (bits << 6) | u32::from(value(c)?);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with_keys(keys: &[&str]) -> Env {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let set = serde_json::json!({"default": keys[0], "other": keys[1]}).to_string();
        Env::from_lookup(|name| match name {
            "SUPABASE_URL" => Some("http://localhost:1".into()),
            "SUPABASE_ANON_KEY" => Some("anon".into()),
            "SUPABASE_SECRET_KEYS" => Some(set.clone()),
            "SUPABASE_SERVICE_ROLE_KEY" => Some(keys[2].clone()),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn every_accepted_key_and_nothing_else_is_the_secret_key() {
        let env = env_with_keys(&["sb_secret_a", "sb_secret_b", "eyJ.legacy.jwt"]);
        for key in ["sb_secret_a", "sb_secret_b", "eyJ.legacy.jwt"] {
            assert!(is_secret_key(&env, key), "{key}");
        }
        for guess in ["", "sb_secret_", "sb_secret_a ", "anon", "sb_secret_c"] {
            assert!(!is_secret_key(&env, guess), "{guess:?}");
        }
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }

    #[test]
    fn jwt_claims_are_read_from_the_payload() {
        // {"role":"authenticated","app_metadata":{"role":"admin"}}
        let payload = "eyJyb2xlIjoiYXV0aGVudGljYXRlZCIsImFwcF9tZXRhZGF0YSI6eyJyb2xlIjoiYWRtaW4ifX0";
        let claims = jwt_claims(&format!("h.{payload}.s")).unwrap();
        assert_eq!(claims["role"], "authenticated");
        assert!(claims_admin(&claims));
        assert_eq!(jwt_claims("sb_secret_abc"), None);
        assert_eq!(jwt_claims("a.b.c.d"), None);
    }

    #[test]
    fn only_app_metadata_makes_an_admin() {
        assert!(!claims_admin(&json!({"user_metadata": {"role": "admin"}})));
        assert!(claims_admin(&json!({"app_metadata": {"role": "manager"}})));
        assert!(!claims_admin(&json!({"app_metadata": {"role": "user"}})));
    }

    #[test]
    fn base64url_round_trips_the_alphabet_ends() {
        assert_eq!(base64url_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(base64url_decode("aGk").unwrap(), b"hi");
        assert_eq!(base64url_decode("a+b"), None);
    }
}
