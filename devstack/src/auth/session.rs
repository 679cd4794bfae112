//! What a sign-in hands out: the access token's claims and the session body,
//! shaped as Supabase Auth issues them. Pure: the caller supplies the user
//! (as the service's user JSON), the session and the time.

use serde_json::{json, Value};

/// Lifetime of an access token (Supabase's default `jwt_expiry`).
pub const ACCESS_TOKEN_SECONDS: i64 = 3600;

/// One signed-in device: the row of `auth.sessions` a token belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    /// When the user signed in (the `amr` timestamp), seconds.
    pub signed_in_at: i64,
}

/// The claims of an access token for `user` in `session`, issued at `now`.
///
/// `aud` and `role` come from the user's row, as in Supabase Auth; the
/// product trusts `app_metadata` (set only by the service key) and never
/// `user_metadata` (the user's own).
pub fn access_claims(user: &Value, session: &Session, issuer: &str, now: i64) -> Value {
    json!({
        "iss": issuer,
        "sub": user["id"],
        "aud": user["aud"],
        "exp": now + ACCESS_TOKEN_SECONDS,
        "iat": now,
        "email": user["email"],
        "phone": "",
        "app_metadata": user["app_metadata"],
        "user_metadata": user["user_metadata"],
        "role": user["role"],
        "aal": "aal1",
        "amr": [{ "method": "password", "timestamp": session.signed_in_at }],
        "session_id": session.id,
        "is_anonymous": user["is_anonymous"],
    })
}

/// The body of a successful `/token` call.
pub fn token_body(user: &Value, access_token: &str, refresh_token: &str, now: i64) -> Value {
    json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": ACCESS_TOKEN_SECONDS,
        "expires_at": now + ACCESS_TOKEN_SECONDS,
        "refresh_token": refresh_token,
        "user": user,
    })
}

/// The `app_metadata` of a new email user: Supabase Auth's provider keys,
/// then whatever the admin set (which may override them).
pub fn new_app_metadata(admin_set: &Value) -> Value {
    let mut metadata = json!({ "provider": "email", "providers": ["email"] });
    if let Some(keys) = admin_set.as_object() {
        for (key, value) in keys {
            metadata[key] = value.clone();
        }
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn user() -> Value {
        json!({
            "id": "11111111-1111-4111-8111-111111111111",
            "aud": "authenticated",
            "role": "authenticated",
            "email": "ada@example.test",
            "app_metadata": new_app_metadata(&json!({ "role": "admin" })),
            "user_metadata": { "name": "Ada" },
            "is_anonymous": false,
        })
    }

    #[test]
    fn claims_are_the_ones_supabase_auth_issues() {
        let session = Session {
            id: "22222222-2222-4222-8222-222222222222".into(),
            signed_in_at: NOW - 60,
        };
        let claims = access_claims(&user(), &session, "http://127.0.0.1:54321/auth/v1", NOW);
        assert_eq!(claims["sub"], "11111111-1111-4111-8111-111111111111");
        assert_eq!(claims["role"], "authenticated");
        assert_eq!(claims["aud"], "authenticated");
        assert_eq!(claims["email"], "ada@example.test");
        assert_eq!(claims["session_id"], session.id);
        assert_eq!(claims["iat"], NOW);
        assert_eq!(claims["exp"], NOW + 3600);
        assert_eq!(claims["aal"], "aal1");
        assert_eq!(claims["is_anonymous"], false);
        assert_eq!(
            claims["amr"][0],
            json!({ "method": "password", "timestamp": NOW - 60 })
        );
        assert_eq!(claims["app_metadata"]["provider"], "email");
        assert_eq!(claims["app_metadata"]["providers"], json!(["email"]));
        assert_eq!(claims["app_metadata"]["role"], "admin");
        assert_eq!(claims["user_metadata"]["name"], "Ada");
    }

    #[test]
    fn the_token_body_is_a_supabase_js_session() {
        let body = token_body(&user(), "access", "refresh", NOW);
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["expires_at"], NOW + 3600);
        assert_eq!(body["refresh_token"], "refresh");
        assert_eq!(body["user"]["email"], "ada@example.test");
    }

    #[test]
    fn admin_set_app_metadata_keeps_the_provider_keys() {
        assert_eq!(
            new_app_metadata(&json!(null)),
            json!({ "provider": "email", "providers": ["email"] })
        );
        let plan = new_app_metadata(&json!({ "plan": "pro" }));
        assert_eq!(plan["plan"], "pro");
        assert_eq!(plan["provider"], "email");
    }
}
