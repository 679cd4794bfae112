//! Edge functions: every `supabase/functions/<name>/index.ts` runs under the
//! pinned Deno in its own process, with the env and limits a hosted function
//! gets: a 256 MB heap, work cut at the wall clock (by the shim, which ends
//! the process), and read access to nothing but its `static_files`. Its
//! modules load as the static import graph of a generated entry module,
//! which Deno does without read permission, as a deploy bundles them.
//! A process that ends (heap exhausted, wall clock) is started again.

use crate::config::StackConfig;
use crate::process::{self, ManagedChild};
use crate::{keys, parts, static_files};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::watch;

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
    /// The files its `static_files` globs matched at start: all it may read.
    pub static_files: Vec<PathBuf>,
    /// Internal port.
    pub port: u16,
}

/// A function's table in `config.toml`.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    verify_jwt: bool,
    static_files: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            verify_jwt: true,
            static_files: Vec::new(),
        }
    }
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
        .map(|(index, name)| {
            let settings = settings.get(&name).cloned().unwrap_or_default();
            EdgeFunction {
                dir: root.join(&name),
                verify_jwt: settings.verify_jwt,
                static_files: static_files::expand(&config.supabase_dir(), &settings.static_files),
                port: config.function_port(index),
                name,
            }
        })
        .collect())
}

/// `verify_jwt` and `static_files` of each `[functions.<name>]` table in
/// `config.toml`.
fn function_settings(path: &Path) -> Result<BTreeMap<String, Settings>> {
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
            let table = table.as_table()?;
            let defaults = Settings::default();
            let settings = Settings {
                verify_jwt: table
                    .get("verify_jwt")
                    .and_then(|value| value.as_bool())
                    .unwrap_or(defaults.verify_jwt),
                static_files: table
                    .get("static_files")
                    .and_then(|value| value.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|glob| glob.as_str().map(str::to_string))
                    .collect(),
            };
            Some((name.clone(), settings))
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

/// The module Deno runs for a function: the shim first, then the function,
/// both as static imports, so the whole graph loads without read access.
fn entry_module(shim: &Path, function: &EdgeFunction) -> String {
    format!(
        "import \"file://{}\";\nimport \"file://{}\";\n",
        shim.display(),
        function.dir.join("index.ts").display()
    )
}

/// Starts one function's Deno process.
pub fn start(config: &StackConfig, function: &EdgeFunction) -> Result<ManagedChild> {
    let entry = config
        .run_dir()
        .join(format!("function-{}.ts", function.name));
    std::fs::write(&entry, entry_module(&shim_path(config), function))?;
    let mut command = Command::new(config.deno_bin());
    command
        .args(["run", "--no-prompt", "--allow-net", "--allow-env"])
        .arg(format!(
            "--v8-flags=--max-old-space-size={}",
            config.function_limits.heap_mb
        ));
    if !function.static_files.is_empty() {
        let readable: Vec<String> = function
            .static_files
            .iter()
            .map(|path| path.display().to_string())
            .collect();
        command.arg(format!("--allow-read={}", readable.join(",")));
    }
    command
        .arg(&entry)
        .env_clear()
        .envs(function_env(config, function)?);
    process::spawn(
        &format!("function:{}", function.name),
        command,
        &log_path(config, function),
        None,
    )
}

fn log_path(config: &StackConfig, function: &EdgeFunction) -> PathBuf {
    config.log_path(&format!("function-{}", function.name))
}

/// Keeps a started function running: when its process ends (heap
/// exhausted, wall clock reached, a crash), logs why and starts it again,
/// as the hosted runtime boots a new worker for the next request. Returns
/// once `stop` changes, after stopping the process.
pub async fn supervise(
    config: StackConfig,
    function: EdgeFunction,
    mut child: ManagedChild,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let status = tokio::select! {
            status = child.wait() => status,
            _ = stop.changed() => {
                child.stop(libc::SIGTERM, Duration::from_secs(5)).await;
                return;
            }
        };
        let reason = match &status {
            Ok(status) => format!("exited ({status})"),
            Err(error) => format!("was lost ({error})"),
        };
        note(&config, &function, &format!("{reason}; starting it again"));
        tokio::time::sleep(Duration::from_millis(200)).await;
        child = loop {
            match start(&config, &function) {
                Ok(child) => {
                    let part = format!("function:{}", function.name);
                    if let Err(error) = parts::update_pid(&config, &part, child.pid()) {
                        note(
                            &config,
                            &function,
                            &format!("cannot record its pid: {error:#}"),
                        );
                    }
                    break child;
                }
                Err(error) => {
                    note(&config, &function, &format!("cannot start: {error:#}"));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
    }
}

/// A line in the function's log and devstack's own.
fn note(config: &StackConfig, function: &EdgeFunction, message: &str) {
    let line = format!("devstack: function {} {message}", function.name);
    eprintln!("{line}");
    if let Ok(mut log) = process::open_log(&log_path(config, function)) {
        let _ = writeln!(log, "{line}");
    }
}

/// What a hosted function finds in its environment, plus the project's
/// `supabase/functions/.env` (the local form of `supabase secrets set`).
fn function_env(config: &StackConfig, function: &EdgeFunction) -> Result<Vec<(String, String)>> {
    let mut env = vec![
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("HOME".into(), std::env::var("HOME").unwrap_or_default()),
        // Read and removed by the shim before the function runs.
        ("DEVSTACK_FUNCTION_PORT".into(), function.port.to_string()),
        (
            "DEVSTACK_FUNCTION_WALL_CLOCK_MS".into(),
            config.function_limits.wall_clock.as_millis().to_string(),
        ),
        ("SUPABASE_URL".into(), config.api_url()),
        ("SUPABASE_ANON_KEY".into(), keys::anon_key()),
        ("SUPABASE_SERVICE_ROLE_KEY".into(), keys::service_role_key()),
        (
            "SUPABASE_PUBLISHABLE_KEYS".into(),
            keys::key_map(keys::PUBLISHABLE_KEY),
        ),
        (
            "SUPABASE_SECRET_KEYS".into(),
            keys::key_map(keys::SECRET_KEY),
        ),
        ("SUPABASE_JWKS".into(), keys::JWKS.into()),
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
    fn settings_are_read_per_function() {
        let dir = std::env::temp_dir().join(format!("devstack-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(
            &path,
            "[functions.open]\nverify_jwt = false\nstatic_files = [\"./functions/open/pkg/*\"]\n\
             [functions.closed]\nverify_jwt = true\n[functions.plain]\n",
        )
        .unwrap();
        let settings = function_settings(&path).unwrap();
        assert_eq!(
            settings["open"],
            Settings {
                verify_jwt: false,
                static_files: vec!["./functions/open/pkg/*".into()],
            }
        );
        assert!(settings["closed"].verify_jwt);
        assert_eq!(settings["plain"], Settings::default());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
