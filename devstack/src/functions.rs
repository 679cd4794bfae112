//! Edge functions: every `supabase/functions/<name>/index.ts` runs under the
//! pinned Deno in its own process, with the env a hosted function gets and
//! read access to its own folder and `_shared` only.

use crate::config::StackConfig;
use crate::keys;
use crate::process::{self, ManagedChild};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// The shim that stands in for Supabase's edge runtime around `Deno.serve`.
const EDGE_RUNTIME_SHIM: &str = include_str!("edge_runtime.ts");

/// One function of the project, as the gateway routes to it.
#[derive(Debug, Clone)]
pub struct EdgeFunction {
    /// Folder name, which is also the route: `/functions/v1/<name>`.
    pub name: String,
    /// Its folder.
    pub dir: PathBuf,
    /// Whether the gateway requires a valid JWT (`verify_jwt`, default true).
    pub verify_jwt: bool,
    /// Internal port.
    pub port: u16,
}

/// The project's functions in name order (folders starting with `_` or `.`,
/// like `_shared`, are not functions).
pub fn discover(config: &StackConfig) -> Result<Vec<EdgeFunction>> {
    let root = config.supabase_dir().join("functions");
    if !root.exists() {
        return Ok(Vec::new());
    }
    let settings = function_settings(&config.supabase_dir().join("config.toml"))?;
    let mut names: Vec<String> = std::fs::read_dir(&root)?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("index.ts").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('_') && !name.starts_with('.'))
        .collect();
    names.sort();
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(index, name)| EdgeFunction {
            dir: root.join(&name),
            verify_jwt: settings.get(&name).copied().unwrap_or(true),
            port: config.function_port(index),
            name,
        })
        .collect())
}

/// `verify_jwt` of each `[functions.<name>]` table in `config.toml`.
fn function_settings(path: &Path) -> Result<BTreeMap<String, bool>> {
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let text = std::fs::read_to_string(path)?;
    let document: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let functions = document.get("functions").and_then(|value| value.as_table());
    Ok(functions
        .into_iter()
        .flatten()
        .filter_map(|(name, table)| {
            let verify = table.get("verify_jwt")?.as_bool()?;
            Some((name.clone(), verify))
        })
        .collect())
}

/// Writes the edge-runtime shim every function process starts from; once per
/// start of the stack, before [`start`].
pub fn write_shim(config: &StackConfig) -> Result<()> {
    std::fs::write(shim_path(config), EDGE_RUNTIME_SHIM)?;
    Ok(())
}

fn shim_path(config: &StackConfig) -> PathBuf {
    config.run_dir().join("edge_runtime.ts")
}

/// Starts one function's Deno process.
pub fn start(config: &StackConfig, function: &EdgeFunction) -> Result<ManagedChild> {
    let shim = shim_path(config);
    let shared = function
        .dir
        .parent()
        .expect("inside functions/")
        .join("_shared");
    let readable = [function.dir.as_path(), shared.as_path(), shim.as_path()]
        .map(|path| path.display().to_string())
        .join(",");
    let mut command = Command::new(config.deno_bin());
    command
        .args(["run", "--no-prompt", "--allow-net", "--allow-env"])
        .arg(format!("--allow-read={readable}"))
        .arg(&shim)
        .arg(format!(
            "file://{}",
            function.dir.join("index.ts").display()
        ))
        .env_clear()
        .envs(function_env(config, function)?);
    process::spawn(
        &format!("function:{}", function.name),
        command,
        &config.log_path(&format!("function-{}", function.name)),
        None,
    )
}

/// What a hosted function finds in its environment, plus the project's
/// `supabase/functions/.env` (the local form of `supabase secrets set`).
fn function_env(config: &StackConfig, function: &EdgeFunction) -> Result<Vec<(String, String)>> {
    let mut env = vec![
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("HOME".into(), std::env::var("HOME").unwrap_or_default()),
        ("DEVSTACK_FUNCTION_PORT".into(), function.port.to_string()),
        ("SUPABASE_URL".into(), config.api_url()),
        ("SUPABASE_ANON_KEY".into(), keys::anon_key()),
        ("SUPABASE_SERVICE_ROLE_KEY".into(), keys::service_role_key()),
        ("SUPABASE_DB_URL".into(), config.db_url()),
        ("SUNO_API_BASE_URL".into(), config.suno_base_url()),
        ("SUNO_API_KEY".into(), config.suno_api_key()),
    ];
    if let Ok(deno_dir) = std::env::var("DENO_DIR") {
        env.push(("DENO_DIR".into(), deno_dir));
    }
    let dotenv = config.supabase_dir().join("functions/.env");
    if dotenv.exists() {
        env.extend(parse_dotenv(&std::fs::read_to_string(dotenv)?));
    }
    Ok(env)
}

/// `KEY=value` lines; blank lines and `#` comments skipped, quotes removed.
fn parse_dotenv(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| {
            let value = value.trim();
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            (key.trim().to_string(), unquoted.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines_are_parsed_like_the_cli() {
        let parsed = parse_dotenv("# comment\nA=1\n\nB=\"two words\"\nC='x=y'\nnot a pair\n");
        assert_eq!(
            parsed,
            vec![
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "two words".to_string()),
                ("C".to_string(), "x=y".to_string()),
            ]
        );
    }

    #[test]
    fn verify_jwt_is_read_per_function() {
        let dir = std::env::temp_dir().join(format!("devstack-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(
            &path,
            "[functions.open]\nverify_jwt = false\n[functions.closed]\nverify_jwt = true\n",
        )
        .unwrap();
        let settings = function_settings(&path).unwrap();
        assert_eq!(settings.get("open"), Some(&false));
        assert_eq!(settings.get("closed"), Some(&true));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
