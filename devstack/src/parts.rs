//! The parts of a running stack and how to tell each one is up.
//!
//! The supervisor writes the list to `run/parts.json` once everything has
//! started; `status` and `up` read it and probe each part themselves, so they
//! report what answers now, not what once started.

use crate::config::StackConfig;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One part of the stack.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Part {
    /// `postgres`, `postgrest`, `suno-simulator`, `function:<name>`, `gateway`.
    pub name: String,
    /// How to probe it.
    pub probe: Probe,
    /// Where it logs.
    pub log: PathBuf,
    /// Process id, for parts that are processes of their own.
    pub pid: Option<u32>,
}

/// A health check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Probe {
    /// Something accepts TCP connections on this port.
    Tcp(u16),
    /// This URL answers 2xx.
    Http(String),
    /// A task inside the supervisor: up while the supervisor is.
    InProcess,
}

impl Part {
    /// Whether the part answers now.
    pub async fn is_up(&self) -> bool {
        match &self.probe {
            Probe::Tcp(port) => tcp_open(*port).await,
            Probe::Http(url) => http_ok(url).await,
            Probe::InProcess => true,
        }
    }
}

async fn tcp_open(port: u16) -> bool {
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    matches!(
        tokio::time::timeout(Duration::from_secs(2), connect).await,
        Ok(Ok(_))
    )
}

async fn http_ok(url: &str) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("a plain HTTP client builds");
    matches!(client.get(url).send().await, Ok(response) if response.status().is_success())
}

/// `run/parts.json`.
pub fn parts_file(config: &StackConfig) -> PathBuf {
    config.run_dir().join("parts.json")
}

/// `run/stage`: the part being started, for `up` to name when startup fails.
pub fn stage_file(config: &StackConfig) -> PathBuf {
    config.run_dir().join("stage")
}

/// Records which part is starting.
pub fn write_stage(config: &StackConfig, part: &str, log: &Path) {
    let _ = std::fs::write(stage_file(config), format!("{part}\t{}", log.display()));
}

/// The part that was starting when the supervisor stopped, and its log.
pub fn read_stage(config: &StackConfig) -> Option<(String, String)> {
    let text = std::fs::read_to_string(stage_file(config)).ok()?;
    let (part, log) = text.split_once('\t')?;
    Some((part.to_string(), log.to_string()))
}

/// Saves the list of parts (whole, through a rename, so a reader never sees
/// half a file).
pub fn save(config: &StackConfig, parts: &[Part]) -> Result<()> {
    let file = parts_file(config);
    let partial = file.with_extension("json.partial");
    std::fs::write(&partial, serde_json::to_vec_pretty(parts)?)?;
    std::fs::rename(partial, file)?;
    Ok(())
}

/// Records the process id of a part started again, so the list names the
/// process that runs now (the fault tests signal it).
pub fn update_pid(config: &StackConfig, name: &str, pid: Option<u32>) -> Result<()> {
    // Function tasks and the supervisor update the file each on their own.
    static WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _writing = WRITER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(mut parts) = load(config) else {
        return Ok(());
    };
    for part in parts.iter_mut().filter(|part| part.name == name) {
        part.pid = pid;
    }
    save(config, &parts)
}

/// `run/hold-<part>`: while it exists, a stopped database or PostgREST stays
/// down (how a test holds an outage open); see the supervisor.
pub fn hold_file(config: &StackConfig, part: &str) -> PathBuf {
    config.run_dir().join(format!("hold-{part}"))
}

/// The saved list, if the stack finished starting.
pub fn load(config: &StackConfig) -> Option<Vec<Part>> {
    let bytes = std::fs::read(parts_file(config)).ok()?;
    serde_json::from_slice(&bytes).ok()
}
