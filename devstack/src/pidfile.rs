//! The supervisor's pid file: one stack per state folder.

use crate::config::StackConfig;
use crate::process;
use anyhow::{bail, Result};
use std::path::PathBuf;

/// Removes the pid file when the supervisor ends.
pub struct PidFile(PathBuf);

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `run/devstack.pid`.
pub fn path(config: &StackConfig) -> PathBuf {
    config.run_dir().join("devstack.pid")
}

/// The pid of the running supervisor of this state folder, if any.
pub fn running(config: &StackConfig) -> Option<i32> {
    let text = std::fs::read_to_string(path(config)).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    process::is_alive(pid).then_some(pid)
}

/// Records this process as the supervisor, refusing if another one runs.
pub fn claim(config: &StackConfig) -> Result<PidFile> {
    if let Some(pid) = running(config) {
        if pid != std::process::id() as i32 {
            bail!(
                "a stack already runs from {} (pid {pid})",
                config.state_dir.display()
            );
        }
    }
    let file = path(config);
    std::fs::write(&file, std::process::id().to_string())?;
    Ok(PidFile(file))
}
