//! `up`, `down` and persistence of the stack, driven through the devstack
//! binary itself. Runs last against the fixture stack, which it leaves up.

use stack_tests::listener::{Answer, Listener};
use stack_tests::StackEnv;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn devstack(command: &str) -> std::process::Output {
    let binary = std::env::var("DEVSTACK_BIN").expect("DEVSTACK_BIN is set by scripts/test");
    Command::new(binary)
        .arg(command)
        .output()
        .expect("devstack runs")
}

fn state_dir() -> PathBuf {
    PathBuf::from(std::env::var("DEVSTACK_STATE_DIR").expect("DEVSTACK_STATE_DIR is set"))
}

fn supervisor_pid() -> i32 {
    std::fs::read_to_string(state_dir().join("run/devstack.pid"))
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid")
}

/// Process ids of every part, from the list the supervisor wrote.
fn part_pids() -> Vec<i32> {
    let parts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_dir().join("run/parts.json")).unwrap())
            .unwrap();
    parts
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|part| part["pid"].as_i64())
        .map(|pid| pid as i32)
        .collect()
}

fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

fn port_open(url: &str) -> bool {
    let address = url.trim_start_matches("http://");
    std::net::TcpStream::connect_timeout(&address.parse().unwrap(), Duration::from_secs(1)).is_ok()
}

#[tokio::test]
async fn up_twice_down_and_up_again_keep_one_stack_and_its_data() {
    let env = StackEnv::from_env().unwrap();
    let first = supervisor_pid();
    let second_up = devstack("up");
    assert!(second_up.status.success(), "{second_up:?}");
    assert_eq!(
        supervisor_pid(),
        first,
        "a second up must not start a second stack"
    );
    assert!(devstack("status").status.success());

    let marker = format!("kept across restarts {}", std::process::id());
    let db = env.db().await.unwrap();
    db.execute(
        "insert into public.notes (owner, body) values (gen_random_uuid(), $1)",
        &[&marker],
    )
    .await
    .unwrap();
    drop(db);

    let pids = part_pids();
    assert!(
        pids.len() >= 4,
        "postgres, postgrest and two functions: {pids:?}"
    );
    // A pg_net request in flight (a batch waits for its slowest request)
    // must not hold the stop back until it times out.
    let silent = Listener::start(Answer::Never).await;
    let db = env.db().await.unwrap();
    db.execute(
        "select net.http_get($1, timeout_milliseconds := 120000)",
        &[&format!("{}/in-flight", silent.url())],
    )
    .await
    .unwrap();
    drop(db);
    silent
        .wait_for(Duration::from_secs(10), |r| r.target == "/in-flight")
        .await
        .expect("the request is in flight");

    let down = devstack("down");
    assert!(down.status.success(), "{down:?}");
    let said = String::from_utf8_lossy(&down.stderr);
    assert!(
        !said.contains("did not stop"),
        "the supervisor had to be killed: {said}"
    );
    for pid in pids.iter().chain([&first]) {
        assert!(!alive(*pid), "process {pid} is still running after down");
    }
    assert!(!port_open(&env.url), "the gateway still answers after down");
    assert!(!devstack("status").status.success());

    let up = devstack("up");
    assert!(up.status.success(), "{up:?}");
    let db = env.db().await.unwrap();
    let kept: i64 = db
        .query_one(
            "select count(*) from public.notes where body = $1",
            &[&marker],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 1);
}
