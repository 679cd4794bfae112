//! PostgREST stopped for a few seconds, then started again by the stack as the hosted
//! platform does, while users ask for music and the worker runs.
//! The scenario and what it checks: [`stack_tests::outage`].

#[tokio::test]
async fn postgrest_stopped_answers_503_loses_nothing_and_resumes_by_itself() -> anyhow::Result<()> {
    stack_tests::outage::outage_while_busy("postgrest", "TERM").await
}
