//! The stack starts a stopped or crashed database, PostgREST or function process again by
//! itself, as the hosted platform does, and `run/parts.json` names the process that runs
//! now. A hold file (`run/hold-<part>`) keeps a stopped part down until it goes: how the
//! `fault_*` tests hold an outage open. Runs against the fixture stack, and leaves it up;
//! one test at a time ([`serial`]), as the supervisor starts one part again at a time.

use std::time::Duration;

use anyhow::{ensure, Result};
use stack_tests::faults::{eventually, part_pid, send_signal, stop_part, Hold};
use stack_tests::functions::serial;
use stack_tests::StackEnv;

/// Whether the gateway's `/rest/v1/` answers 200 (PostgREST up, with its database).
async fn rest_answers(env: &StackEnv) -> Result<bool> {
    let answer = reqwest::Client::new()
        .get(format!("{}/rest/v1/", env.url))
        .header("apikey", &env.anon_key)
        .timeout(Duration::from_secs(5))
        .send()
        .await?;
    Ok(answer.status().is_success())
}

#[tokio::test]
async fn a_stopped_database_stays_down_while_held_then_comes_back_with_its_data() -> Result<()> {
    let _serial = serial().await;
    let env = StackEnv::from_env()?;
    let marker = format!("kept across a database restart {}", std::process::id());
    env.db()
        .await?
        .execute(
            "insert into public.notes (owner, body) values (gen_random_uuid(), $1)",
            &[&marker],
        )
        .await?;

    let hold = Hold::new("postgres")?;
    let stopped = stop_part("postgres", "INT", Duration::from_secs(30)).await?;
    // Longer than the supervisor's check (1 s): held, it is not started again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    ensure!(
        env.db().await.is_err(),
        "the database answered while held down"
    );
    hold.release();

    // Ready first, then recorded: wait for both.
    eventually(
        Duration::from_secs(60),
        "the database to be back",
        || async { Ok(part_pid("postgres")? != stopped && env.db().await.is_ok()) },
    )
    .await?;
    let kept: i64 = env
        .db()
        .await?
        .query_one(
            "select count(*) from public.notes where body = $1",
            &[&marker],
        )
        .await?
        .get(0);
    assert_eq!(kept, 1);
    // PostgREST reconnects by itself.
    eventually(Duration::from_secs(60), "PostgREST to answer again", || {
        rest_answers(&env)
    })
    .await
}

#[tokio::test]
async fn a_crashed_postgrest_is_started_again() -> Result<()> {
    let _serial = serial().await;
    let env = StackEnv::from_env()?;
    let crashed = stop_part("postgrest", "KILL", Duration::from_secs(10)).await?;
    eventually(Duration::from_secs(60), "PostgREST to answer again", || {
        rest_answers(&env)
    })
    .await?;
    ensure!(
        part_pid("postgrest")? != crashed,
        "parts.json still names the crashed PostgREST"
    );
    Ok(())
}

#[tokio::test]
async fn parts_json_names_a_function_process_started_again() -> Result<()> {
    let _serial = serial().await;
    let parts: serde_json::Value = serde_json::from_slice(&std::fs::read(
        stack_tests::faults::state_dir()?.join("run/parts.json"),
    )?)?;
    let function = parts
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|part| part["name"].as_str())
        .find(|name| name.starts_with("function:"))
        .expect("the fixture project has functions")
        .to_owned();
    let killed = part_pid(&function)?;
    send_signal(killed, "KILL")?;
    eventually(
        Duration::from_secs(30),
        "a new process in parts.json",
        || {
            let function = function.clone();
            async move { Ok(part_pid(&function)? != killed) }
        },
    )
    .await
}
