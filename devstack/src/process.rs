//! Child processes of the stack: each writes to its own log file, can run as
//! an unprivileged user (PostgreSQL refuses root), and is stopped with a
//! signal, then killed if it does not go in time.

use anyhow::{Context, Result};
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// A running child, with the name the stack reports it by.
pub struct ManagedChild {
    /// The part's name (`postgres`, `postgrest`, `function:<name>`).
    pub name: String,
    child: Child,
}

/// A user to run a child as.
#[derive(Debug, Clone, Copy)]
pub struct RunAs {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

impl RunAs {
    /// When devstack runs as root, the system's `postgres` user (created by
    /// the Debian package); otherwise `None`: children run as the caller.
    pub fn unprivileged() -> Result<Option<RunAs>> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(None);
        }
        let name = CString::new("postgres").expect("no NUL in a literal");
        // SAFETY: getpwnam takes a valid C string; the result is read at once,
        // before any other call could overwrite the static buffer.
        let entry = unsafe { libc::getpwnam(name.as_ptr()) };
        anyhow::ensure!(
            !entry.is_null(),
            "running as root needs the 'postgres' user (from the postgresql package): run scripts/setup"
        );
        // SAFETY: checked non-null above.
        let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
        Ok(Some(RunAs { uid, gid }))
    }

    /// Makes `path` (a file or folder the stack created) belong to this user.
    pub fn own(&self, path: &Path) -> Result<()> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .with_context(|| format!("chown {}", path.display()))
    }
}

/// Opens a log file for appending, creating it.
pub fn open_log(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening log {}", path.display()))
}

/// Starts `command` with stdout and stderr going to `log`.
pub fn spawn(
    name: &str,
    mut command: Command,
    log: &Path,
    run_as: Option<RunAs>,
) -> Result<ManagedChild> {
    let out = open_log(log)?;
    command
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .kill_on_drop(true);
    if let Some(user) = run_as {
        command.uid(user.uid).gid(user.gid);
    }
    let child = command
        .spawn()
        .with_context(|| format!("starting {name} (log: {})", log.display()))?;
    Ok(ManagedChild {
        name: name.to_string(),
        child,
    })
}

impl ManagedChild {
    /// The child's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits for the child to exit.
    pub async fn wait(&mut self) -> Result<std::process::ExitStatus> {
        Ok(self.child.wait().await?)
    }

    /// Whether the child has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends `signal`, waits up to `grace`, then kills.
    pub async fn stop(&mut self, signal: i32, grace: Duration) {
        if let Some(pid) = self.child.id() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe { libc::kill(pid as i32, signal) };
            if tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
                return;
            }
            eprintln!(
                "devstack: {} did not stop in {grace:?}, killing it",
                self.name
            );
        }
        let _ = self.child.kill().await;
    }
}

/// Whether a process with this pid exists.
pub fn is_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Sends a signal to a process (or, with a negative pid, its group).
pub fn signal(pid: i32, signal: i32) {
    // SAFETY: plain kill(2).
    unsafe { libc::kill(pid, signal) };
}
