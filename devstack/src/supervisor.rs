//! `devstack run`: starts every part in order, keeps them running, and stops
//! them all on Ctrl-C or SIGTERM.
//!
//! Order matters: the database first, then its schema, then PostgREST (so its
//! schema cache sees the migrations), the simulator and the pg_net worker,
//! the functions, the gateway, so that `SUPABASE_URL` answering means
//! everything behind it is there, and last the web app on its own origin.
//!
//! While the stack runs, a database or PostgREST that exits is started again
//! (hosted: the platform restarts them), and so is each function's process
//! (see [`functions::supervise`]).

use crate::config::StackConfig;
use crate::functions::{self, EdgeFunction};
use crate::gateway::Gateway;
use crate::parts::{self, Part, Probe};
use crate::process::{ManagedChild, RunAs};
use crate::{pg_net, pidfile, postgres, postgrest, schema, web};
use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Everything the supervisor owns while the stack runs.
#[derive(Default)]
struct Running {
    /// Processes, in start order (stopped in reverse).
    children: Vec<ManagedChild>,
    /// In-process parts: simulator, pg_net worker, gateway, web app.
    tasks: Vec<JoinHandle<()>>,
    /// One task per function, which starts it again when it dies.
    function_tasks: Vec<JoinHandle<()>>,
    /// Tells the function tasks to stop their processes and return.
    stop_functions: Option<watch::Sender<bool>>,
    parts: Vec<Part>,
}

/// Runs the stack in the foreground until a signal arrives.
pub async fn run(config: StackConfig) -> Result<()> {
    for dir in [config.log_dir(), config.run_dir()] {
        std::fs::create_dir_all(&dir)?;
    }
    let _pid = pidfile::claim(&config)?;
    let _ = std::fs::remove_file(parts::parts_file(&config));
    // A hold left by a test that did not finish must not keep a part down.
    for part in KEPT_UP {
        let _ = std::fs::remove_file(parts::hold_file(&config, part));
    }
    let mut running = Running::default();
    let started = start_all(&config, &mut running).await;
    if let Err(error) = started {
        stop_all(&mut running).await;
        return Err(error);
    }
    parts::save(&config, &running.parts)?;
    let _ = std::fs::remove_file(parts::stage_file(&config));
    eprintln!("devstack: up at {} (Ctrl-C stops it)", config.api_url());
    wait_for_shutdown(&config, &mut running).await?;
    eprintln!("devstack: stopping");
    stop_all(&mut running).await;
    let _ = std::fs::remove_file(parts::parts_file(&config));
    Ok(())
}

async fn start_all(config: &StackConfig, running: &mut Running) -> Result<()> {
    start_database(config, running).await?;
    start_postgrest(config, running).await?;
    start_simulator(config, running).await?;
    start_pg_net_worker(config, running);
    let functions = functions::discover(config)?;
    start_functions(config, &functions, running).await?;
    start_gateway(config, &functions, running).await?;
    start_web_app(config, running).await
}

async fn start_database(config: &StackConfig, running: &mut Running) -> Result<()> {
    let log = config.log_path("postgres");
    parts::write_stage(config, "postgres", &log);
    let run_as = RunAs::unprivileged()?;
    let data = postgres::init_cluster(config, run_as).await?;
    let mut server = postgres::start(config, &data, run_as)?;
    let ready = postgres::wait_ready(config, &mut server).await;
    running.parts.push(Part {
        name: "postgres".into(),
        probe: Probe::Tcp(config.db_port),
        log: log.clone(),
        pid: server.pid(),
    });
    running.children.push(server);
    ready?;
    parts::write_stage(config, "migrations", &config.log_path("devstack"));
    let mut db = postgres::connect(config).await?;
    for name in schema::apply_all(config, &mut db).await? {
        eprintln!("devstack: applied {name}");
    }
    Ok(())
}

async fn start_postgrest(config: &StackConfig, running: &mut Running) -> Result<()> {
    let log = config.log_path("postgrest");
    parts::write_stage(config, "postgrest", &log);
    let mut child = postgrest::start(config)?;
    let ready = postgrest::wait_ready(config, &mut child).await;
    running.parts.push(Part {
        name: "postgrest".into(),
        probe: Probe::Http(format!(
            "http://127.0.0.1:{}/ready",
            config.postgrest_admin_port()
        )),
        log,
        pid: child.pid(),
    });
    running.children.push(child);
    ready
}

async fn start_simulator(config: &StackConfig, running: &mut Running) -> Result<()> {
    if config.real_suno.is_some() {
        return Ok(());
    }
    let port = config.simulator_port();
    let log = config.log_path("devstack");
    parts::write_stage(config, "suno-simulator", &log);
    let listener = bind(port, "suno-simulator").await?;
    let settings = suno_sim::SimConfig {
        public_base_url: format!("http://127.0.0.1:{port}"),
        time_scale: config.simulator_time_scale,
        ..suno_sim::SimConfig::default()
    };
    running.tasks.push(tokio::spawn(async move {
        if let Err(error) = suno_sim::serve(listener, settings).await {
            eprintln!("suno-simulator stopped: {error:#}");
        }
    }));
    running.parts.push(Part {
        name: "suno-simulator".into(),
        probe: Probe::Tcp(port),
        log,
        pid: None,
    });
    Ok(())
}

fn start_pg_net_worker(config: &StackConfig, running: &mut Running) {
    running
        .tasks
        .push(tokio::spawn(pg_net::run(config.clone())));
    running.parts.push(Part {
        name: "pg_net-worker".into(),
        probe: Probe::InProcess,
        log: config.log_path("devstack"),
        pid: None,
    });
}

async fn start_functions(
    config: &StackConfig,
    functions: &[EdgeFunction],
    running: &mut Running,
) -> Result<()> {
    functions::write_shim(config)?;
    for function in functions {
        let name = format!("function:{}", function.name);
        let log = config.log_path(&format!("function-{}", function.name));
        parts::write_stage(config, &name, &log);
        let child = functions::start(config, function)?;
        running.parts.push(Part {
            name,
            probe: Probe::Tcp(function.port),
            log,
            // The first process's; [`functions::supervise`] records the
            // next one's when it starts one again.
            pid: child.pid(),
        });
        running.children.push(child);
    }
    // Deno processes start in parallel; wait for all of them together.
    let deadline = Instant::now() + Duration::from_secs(30);
    let starting = running
        .children
        .iter_mut()
        .filter(|child| child.name.starts_with("function:"));
    for child in starting {
        let part = running
            .parts
            .iter()
            .find(|part| part.name == child.name)
            .expect("every function child has a part");
        while !part.is_up().await {
            if let Some(status) = child.exited() {
                bail!(
                    "{} exited ({status}); see {}",
                    part.name,
                    part.log.display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not listen within 30 s; see {}",
                    part.name,
                    part.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // From now on each function has a task that starts it again when it dies.
    let (started, others): (Vec<_>, Vec<_>) = running
        .children
        .drain(..)
        .partition(|child| child.name.starts_with("function:"));
    running.children = others;
    let (stop, stopped) = watch::channel(false);
    running.stop_functions = Some(stop);
    for (function, child) in functions.iter().zip(started) {
        let supervise =
            functions::supervise(config.clone(), function.clone(), child, stopped.clone());
        running.function_tasks.push(tokio::spawn(supervise));
    }
    Ok(())
}

async fn start_gateway(
    config: &StackConfig,
    functions: &[EdgeFunction],
    running: &mut Running,
) -> Result<()> {
    let log = config.log_path("devstack");
    parts::write_stage(config, "gateway", &log);
    let listener = bind(config.api_port, "gateway").await?;
    let gateway = Gateway::new(config, functions);
    running.tasks.push(tokio::spawn(async move {
        if let Err(error) = gateway.serve(listener).await {
            eprintln!("gateway stopped: {error}");
        }
    }));
    running.parts.push(Part {
        name: "gateway".into(),
        probe: Probe::Tcp(config.api_port),
        log,
        pid: None,
    });
    Ok(())
}

async fn start_web_app(config: &StackConfig, running: &mut Running) -> Result<()> {
    let log = config.log_path("devstack");
    parts::write_stage(config, "web", &log);
    let listener = bind(config.web_port(), "web").await?;
    let static_dir = config.static_dir.clone();
    running.tasks.push(tokio::spawn(async move {
        if let Err(error) = web::serve(listener, static_dir).await {
            eprintln!("web app server stopped: {error}");
        }
    }));
    running.parts.push(Part {
        name: "web".into(),
        probe: Probe::Tcp(config.web_port()),
        log,
        pid: None,
    });
    Ok(())
}

/// Listens on `port`. The stack's ports may lie in the kernel's ephemeral
/// range, where an outgoing connection can hold one for a moment: a port in
/// use is tried again for a few seconds before giving up.
async fn bind(port: u16, part: &str) -> Result<TcpListener> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Err(error)
                if error.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            bound => {
                return bound.with_context(|| format!("{part} cannot listen on 127.0.0.1:{port}"))
            }
        }
    }
}

/// The parts the supervisor starts again when they exit.
const KEPT_UP: [&str; 2] = ["postgres", "postgrest"];

/// Returns on SIGINT or SIGTERM. Meanwhile a database or PostgREST that
/// exits is started again, as the hosted platform restarts them.
async fn wait_for_shutdown(config: &StackConfig, running: &mut Running) -> Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut check = tokio::time::interval(Duration::from_secs(1));
    let mut held = Vec::new();
    loop {
        tokio::select! {
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            _ = check.tick() => restart_exited(config, running, &mut held).await,
        }
    }
}

/// Starts again each kept-up part that has exited, unless its hold file
/// (`run/hold-<part>`) exists: then it stays down until the file goes.
/// `held` remembers which parts were said to be held, to say it once.
async fn restart_exited(config: &StackConfig, running: &mut Running, held: &mut Vec<String>) {
    for child in running.children.iter_mut() {
        if !KEPT_UP.contains(&child.name.as_str()) {
            continue;
        }
        let Some(status) = child.exited() else {
            continue;
        };
        let name = child.name.clone();
        if parts::hold_file(config, &name).exists() {
            if !held.contains(&name) {
                eprintln!("devstack: {name} exited ({status}); held down by its hold file");
                held.push(name);
            }
            continue;
        }
        held.retain(|part| *part != name);
        eprintln!("devstack: {name} exited ({status}); starting it again");
        match start_again(config, &name).await {
            Ok(started) => {
                *child = started;
                if let Err(error) = parts::update_pid(config, &name, child.pid()) {
                    eprintln!("devstack: cannot record {name}'s new pid: {error:#}");
                }
            }
            // The next check tries again.
            Err(error) => eprintln!("devstack: {name} did not start again: {error:#}"),
        }
    }
}

/// Starts `postgres` or `postgrest` on its existing configuration and waits
/// until it is ready.
async fn start_again(config: &StackConfig, name: &str) -> Result<ManagedChild> {
    if name == "postgres" {
        let run_as = RunAs::unprivileged()?;
        let data = postgres::data_dir(config, run_as)?;
        let mut server = postgres::start(config, &data, run_as)?;
        postgres::wait_ready(config, &mut server).await?;
        Ok(server)
    } else {
        let mut child = postgrest::start(config)?;
        postgrest::wait_ready(config, &mut child).await?;
        Ok(child)
    }
}

async fn stop_all(running: &mut Running) {
    for task in running.tasks.drain(..).rev() {
        task.abort();
    }
    if let Some(stop) = running.stop_functions.take() {
        let _ = stop.send(true);
    }
    for task in running.function_tasks.drain(..) {
        let _ = task.await;
    }
    while let Some(mut child) = running.children.pop() {
        let (signal, grace) = if child.name == "postgres" {
            // SIGINT is PostgreSQL's fast shutdown: clean, and quick.
            (libc::SIGINT, Duration::from_secs(30))
        } else {
            (libc::SIGTERM, Duration::from_secs(5))
        };
        child.stop(signal, grace).await;
    }
}
