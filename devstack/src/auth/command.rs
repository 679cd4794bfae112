//! `devstack user add --email E --password P [--admin]`: creates a user who
//! can sign in, exactly as the admin API would (confirmed email; `--admin`
//! sets `app_metadata.role = "admin"`). Needs the stack's database up.

use super::{new_user_from, store};
use crate::config::StackConfig;
use anyhow::{bail, Context, Result};
use serde_json::json;

pub const USAGE: &str = "devstack user add --email EMAIL --password PASSWORD [--admin]";

/// Runs `user <args>`; prints the new user's id.
pub async fn user(config: &StackConfig, args: &[String]) -> Result<()> {
    let Some((subcommand, options)) = args.split_first() else {
        bail!("usage: {USAGE}");
    };
    if subcommand != "add" {
        bail!("unknown user command {subcommand:?}\nusage: {USAGE}");
    }
    let body = add_body(options)?;
    let new_user = new_user_from(&body)?;
    let db = super::connect(&config.db_url())
        .await
        .context("connecting to the stack's database (is it up?)")?;
    let user = store::create_user(&db, &new_user).await?;
    println!("{}", user["id"].as_str().unwrap_or_default());
    Ok(())
}

/// The options as the admin API's request body.
fn add_body(options: &[String]) -> Result<serde_json::Value> {
    let (mut email, mut password, mut admin) = (None, None, false);
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        match option.as_str() {
            "--email" => email = rest.next().cloned(),
            "--password" => password = rest.next().cloned(),
            "--admin" => admin = true,
            other => bail!("unknown option {other:?}\nusage: {USAGE}"),
        }
    }
    let (Some(email), Some(password)) = (email, password) else {
        bail!("--email and --password are required\nusage: {USAGE}");
    };
    let app_metadata = if admin {
        json!({ "role": "admin" })
    } else {
        json!({})
    };
    Ok(json!({
        "email": email,
        "password": password,
        "email_confirm": true,
        "app_metadata": app_metadata,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| arg.to_string()).collect()
    }

    #[test]
    fn admin_users_get_the_admin_role_in_app_metadata() {
        let body = add_body(&args(&[
            "--email",
            "a@b.test",
            "--password",
            "pw1234",
            "--admin",
        ]));
        let body = body.unwrap();
        assert_eq!(body["app_metadata"]["role"], "admin");
        assert_eq!(body["email_confirm"], true);
        let plain = add_body(&args(&["--email", "a@b.test", "--password", "pw1234"])).unwrap();
        assert!(plain["app_metadata"].get("role").is_none());
    }

    #[test]
    fn email_and_password_are_required() {
        assert!(add_body(&args(&["--email", "a@b.test"])).is_err());
        assert!(add_body(&args(&["--password", "pw1234", "--bogus"])).is_err());
    }
}
