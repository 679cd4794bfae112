//! PostgreSQL restarted (a fast shutdown, held down for a few seconds, then started again
//! by the stack as the hosted platform does) while users ask for music and the worker runs.
//! The scenario and what it checks: [`stack_tests::outage`].

use stack_tests::outage::{outage_while_busy, Outage};

#[tokio::test]
async fn a_database_restart_answers_503_loses_nothing_and_resumes_by_itself() -> anyhow::Result<()>
{
    // SIGINT is PostgreSQL's fast shutdown, what a restart of the server does.
    outage_while_busy("postgres", Outage::Stopped { signal: "INT" }).await
}
