//! The sign-in service's reads and writes of `auth.users`, `auth.sessions`
//! and `auth.refresh_tokens`. Each change is one statement, so a crash or a
//! concurrent caller never sees half of it.

use super::errors::AuthError;
use super::session::Session;
use serde_json::Value;
use tokio_postgres::Client;

/// A user as Supabase Auth's API shows one (`GET /user`, the `user` of a
/// session, the admin API), built from the row `u`.
const USER_JSON: &str = "jsonb_build_object(
    'id', u.id,
    'aud', u.aud,
    'role', u.role,
    'email', u.email,
    'email_confirmed_at', u.email_confirmed_at,
    'phone', '',
    'confirmed_at', u.email_confirmed_at,
    'last_sign_in_at', u.last_sign_in_at,
    'app_metadata', u.raw_app_meta_data,
    'user_metadata', u.raw_user_meta_data,
    'identities', '[]'::jsonb,
    'created_at', u.created_at,
    'updated_at', u.updated_at,
    'is_anonymous', u.is_anonymous)";

/// A user to create (admin API, `devstack user add`).
#[derive(Debug)]
pub struct NewUser {
    /// Lower-cased, as Supabase Auth stores it.
    pub email: String,
    pub encrypted_password: String,
    pub email_confirmed: bool,
    pub app_metadata: Value,
    pub user_metadata: Value,
}

/// Inserts the user; an email already taken is `EmailExists`.
pub async fn create_user(db: &Client, user: &NewUser) -> Result<Value, AuthError> {
    let sql = format!(
        "insert into auth.users as u
           (email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data)
         values ($1, $2, case when $3 then now() end, $4, $5)
         on conflict (email) do nothing
         returning {USER_JSON}"
    );
    let row = db
        .query_opt(
            &sql,
            &[
                &user.email,
                &user.encrypted_password,
                &user.email_confirmed,
                &user.app_metadata,
                &user.user_metadata,
            ],
        )
        .await?;
    row.map(|row| row.get(0)).ok_or(AuthError::EmailExists)
}

/// A user who may try a password: the user JSON, the stored hash and whether
/// the email is confirmed.
pub struct Candidate {
    pub user: Value,
    pub encrypted_password: Option<String>,
    pub email_confirmed: bool,
}

/// The user with this (lower-cased) email, if any.
pub async fn find_by_email(db: &Client, email: &str) -> Result<Option<Candidate>, AuthError> {
    let sql = format!(
        "select {USER_JSON}, u.encrypted_password, u.email_confirmed_at is not null
         from auth.users u where u.email = $1"
    );
    let row = db.query_opt(&sql, &[&email]).await?;
    Ok(row.map(|row| Candidate {
        user: row.get(0),
        encrypted_password: row.get(1),
        email_confirmed: row.get(2),
    }))
}

/// The user with this id, if any.
pub async fn find_by_id(db: &Client, user_id: &str) -> Result<Option<Value>, AuthError> {
    let sql = format!("select {USER_JSON} from auth.users u where u.id = $1::text::uuid");
    let row = db.query_opt(&sql, &[&user_id]).await?;
    Ok(row.map(|row| row.get(0)))
}

/// Whether the session still exists (not signed out, user not deleted).
pub async fn session_exists(db: &Client, session_id: &str) -> Result<bool, AuthError> {
    let row = db
        .query_one(
            "select exists (select from auth.sessions where id = $1::text::uuid)",
            &[&session_id],
        )
        .await?;
    Ok(row.get(0))
}

/// Records a sign-in: a new session holding its first refresh token, and the
/// user's `last_sign_in_at`. Returns the session and the updated user.
pub async fn start_session(
    db: &Client,
    user_id: &str,
    refresh_token: &str,
) -> Result<(Session, Value), AuthError> {
    let sql = format!(
        "with u as (
           update auth.users set last_sign_in_at = now(), updated_at = now()
           where id = $1::text::uuid
           returning *
         ), session as (
           insert into auth.sessions (user_id) select id from u
           returning id, user_id, created_at
         ), first_token as (
           insert into auth.refresh_tokens (token, user_id, session_id)
           select $2, user_id::text, id from session
         )
         select session.id::text, extract(epoch from session.created_at)::bigint, {USER_JSON}
         from session, u"
    );
    let row = db.query_one(&sql, &[&user_id, &refresh_token]).await?;
    Ok((
        Session {
            id: row.get(0),
            signed_in_at: row.get(1),
        },
        row.get(2),
    ))
}

/// What presenting a refresh token did.
pub enum Rotation {
    /// The token was live: it is now revoked and `fresh` replaces it.
    Rotated {
        session: Session,
        user: Value,
    },
    /// The token was already used: every token of its session is revoked,
    /// since someone holds a copy (Supabase's reuse detection).
    AlreadyUsed,
    NotFound,
}

/// Revokes `token` and issues `fresh` in its place, in one statement; the
/// row lock makes two concurrent uses of one token rotate it once.
pub async fn rotate(db: &Client, token: &str, fresh: &str) -> Result<Rotation, AuthError> {
    let sql = format!(
        "with presented as (
           select id, session_id, revoked from auth.refresh_tokens where token = $1
         ), used as (
           update auth.refresh_tokens t set revoked = true, updated_at = now()
           from presented p
           where t.id = p.id and not p.revoked and not t.revoked
           returning t.user_id, t.session_id
         ), family as (
           update auth.refresh_tokens t set revoked = true, updated_at = now()
           from presented p
           where p.revoked and t.session_id = p.session_id and not t.revoked
         ), child as (
           insert into auth.refresh_tokens (token, user_id, session_id, parent)
           select $2, user_id, session_id, $1 from used
           returning session_id
         ), session as (
           update auth.sessions s set refreshed_at = now(), updated_at = now()
           from child where s.id = child.session_id
           returning s.id, s.user_id, s.created_at
         )
         select exists (select from presented),
                session.id::text,
                extract(epoch from session.created_at)::bigint,
                (select {USER_JSON} from auth.users u where u.id = session.user_id)
         from (select 1) one left join session on true"
    );
    let row = db.query_one(&sql, &[&token, &fresh]).await?;
    let found: bool = row.get(0);
    let session_id: Option<String> = row.get(1);
    Ok(match (found, session_id) {
        (_, Some(id)) => Rotation::Rotated {
            session: Session {
                id,
                signed_in_at: row.get(2),
            },
            user: row.get(3),
        },
        (true, None) => Rotation::AlreadyUsed,
        (false, None) => Rotation::NotFound,
    })
}

/// Which sessions a sign-out ends (`scope` of `POST /logout`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scope {
    /// Every session of the user (supabase-js's default).
    Global,
    /// Only the caller's session.
    Local,
    /// Every session but the caller's.
    Others,
}

/// Deletes the sessions `scope` names; their refresh tokens go with them.
pub async fn end_sessions(
    db: &Client,
    user_id: &str,
    session_id: &str,
    scope: Scope,
) -> Result<(), AuthError> {
    let user = "delete from auth.sessions where user_id = $1::text::uuid";
    match scope {
        Scope::Global => db.execute(user, &[&user_id]).await?,
        Scope::Local => {
            let sql = format!("{user} and id = $2::text::uuid");
            db.execute(&sql, &[&user_id, &session_id]).await?
        }
        Scope::Others => {
            let sql = format!("{user} and id <> $2::text::uuid");
            db.execute(&sql, &[&user_id, &session_id]).await?
        }
    };
    Ok(())
}
