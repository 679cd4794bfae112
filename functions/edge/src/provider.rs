//! One call to the provider's credit endpoint: the health probe (reachability, the key and
//! the balance at once), classified by the core.

use music_core::classify::classify_credits;
use music_core::health::CallFacts;
use music_core::suno::{parse_credit, Endpoint};
use music_core::{Classification, Config, ConfigError};

use crate::fetch;

/// What a probe found: the outcome to feed `ProviderStatus::check` (or `Planner::record_probe`)
/// and the facts beside it (response time, HTTP status, credits).
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The classified outcome; `ok` when the key works and the balance covers a generation.
    pub outcome: Classification,
    /// Response time, HTTP status and the balance read.
    pub facts: CallFacts,
}

/// Calls `GET /api/v1/generate/credit`; fails only when `SUNO_API_KEY` is not set.
pub async fn probe(config: &Config) -> Result<Probe, ConfigError> {
    let api = config.suno_api()?;
    let sent = fetch::send(&api.credit(), config.suno_request_timeout_ms).await;
    let credits = sent.reply.read(Endpoint::Credit, parse_credit);
    let outcome = match &credits {
        Ok(balance) => classify_credits(*balance, f64::from(config.suno_credits_per_task)),
        Err(refusal) => refusal.clone(),
    };
    Ok(Probe {
        outcome,
        facts: sent.reply.facts(sent.elapsed_ms, credits.ok()),
    })
}
