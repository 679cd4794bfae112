//! pg_cron in the local cluster runs a job every minute, and the job's
//! `net.http_post` is delivered by the pg_net worker. Takes up to ~70 s.

use stack_tests::listener::{Answer, Listener};
use stack_tests::StackEnv;
use std::time::Duration;

#[tokio::test]
async fn a_job_scheduled_every_minute_runs_and_its_request_is_delivered() {
    let db = StackEnv::from_env().unwrap().db().await.unwrap();
    let listener = Listener::start(Answer::Ok).await;
    let job_name = format!("devstack-test-{}", listener.port);
    let command = format!(
        "select net.http_post(url := '{}/cron', body := '{{\"job\": \"{job_name}\"}}'::jsonb)",
        listener.url()
    );
    db.execute(
        "select cron.schedule($1, '* * * * *', $2)",
        &[&job_name, &command],
    )
    .await
    .unwrap();

    let delivered = listener
        .wait_for(Duration::from_secs(75), |r| r.body.contains(&job_name))
        .await;
    // pg_net sends at the job's commit, and pg_cron records the run's end a
    // moment after: wait for the record to leave "running".
    let mut run = None;
    for _ in 0..50 {
        run = db
            .query_opt(
                "select d.status from cron.job_run_details d join cron.job j using (jobid)
                 where j.jobname = $1 order by d.runid desc limit 1",
                &[&job_name],
            )
            .await
            .unwrap();
        let running = run
            .as_ref()
            .is_some_and(|row| row.get::<_, String>(0) == "running");
        if delivered.is_none() || !running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.execute("select cron.unschedule($1)", &[&job_name])
        .await
        .unwrap();

    let delivered = delivered.expect("the cron job's request reached the listener within 75 s");
    assert_eq!(delivered.method, "POST");
    assert_eq!(delivered.target, "/cron");
    let status: String = run.expect("a run is recorded").get(0);
    assert_eq!(status, "succeeded");
}
