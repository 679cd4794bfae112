//! PostgREST taken away while users ask for music and the worker runs: stopped for a few
//! seconds, then started again by the stack as the hosted platform does; and frozen, so
//! that connections to it hang, until every function has answered.
//! The scenario and what it checks: [`stack_tests::outage`].

use stack_tests::outage::{outage_while_busy, Outage};

#[tokio::test]
async fn postgrest_stopped_answers_503_loses_nothing_and_resumes_by_itself() -> anyhow::Result<()> {
    outage_while_busy("postgrest", Outage::Stopped { signal: "TERM" }).await
}

#[tokio::test]
async fn postgrest_frozen_answers_503_in_time_and_resumes_when_it_wakes() -> anyhow::Result<()> {
    outage_while_busy("postgrest", Outage::Frozen).await
}
