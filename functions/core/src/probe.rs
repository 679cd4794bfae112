//! `suno-status-check`'s decisions: whether a call probes the provider, and whether a probe
//! found it back after an outage.
//!
//! Anyone may read the public status. A fresh probe costs a provider call, so it goes out
//! only for a privileged caller (the secret key or an admin), or when the stored status is
//! older than [`PUBLIC_STATUS_MAX_AGE_MS`] (the app's badge reads every 30 s). Across callers
//! at most one probe is in flight: the shell probes only after winning
//! `take_suno_probe_lease(p_ttl_seconds => PROBE_LEASE_TTL_SECONDS, p_if_older_than_seconds
//! => …)` ([`lease_condition_seconds`]), and the recorded check ends the lease.
//!
//! A probe that turns an unavailable provider available ([`is_recovery`]) starts a worker
//! run at once (trigger `recovery`), so waiting requests do not wait for the next minute.

use crate::health::ProviderStatus;

/// A stored status older than this is probed again on any caller's read.
pub const PUBLIC_STATUS_MAX_AGE_MS: u64 = 30_000;

/// How long a won probe lease lasts if its holder never records a check. Longer than the
/// probe's own timeout, short enough that a dead prober holds nothing up for long.
pub const PROBE_LEASE_TTL_SECONDS: u32 = 15;

/// Whether this call should try to probe (it still has to win the lease): always for a
/// privileged caller, else when the status was never checked or is older than
/// [`PUBLIC_STATUS_MAX_AGE_MS`] at `now_ms`.
pub fn should_probe(privileged: bool, last_check_ms: Option<i64>, now_ms: i64) -> bool {
    privileged || is_stale(last_check_ms, now_ms)
}

/// The lease's staleness condition for this caller: none for a privileged caller, else the
/// public age in seconds, so that a status checked by someone else meanwhile is not probed
/// again.
pub fn lease_condition_seconds(privileged: bool) -> Option<u32> {
    let seconds = u32::try_from(PUBLIC_STATUS_MAX_AGE_MS / 1_000).unwrap_or(u32::MAX);
    (!privileged).then_some(seconds)
}

fn is_stale(last_check_ms: Option<i64>, now_ms: i64) -> bool {
    let max_age = i64::try_from(PUBLIC_STATUS_MAX_AGE_MS).unwrap_or(i64::MAX);
    last_check_ms.map_or(true, |at| now_ms.saturating_sub(at) > max_age)
}

/// Whether a check turned the provider from unavailable to available: the status `before`
/// the probe (as read) refused calls at `before_ms`, the status `after` (as recorded)
/// accepts them at `after_ms`.
pub fn is_recovery(
    before: &ProviderStatus,
    before_ms: i64,
    after: &ProviderStatus,
    after_ms: i64,
) -> bool {
    !before.is_available(before_ms) && after.is_available(after_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{PauseKind, ProviderState};

    const NOW: i64 = 1_700_000_000_000;

    fn status(state: ProviderState) -> ProviderStatus {
        ProviderStatus {
            state,
            consecutive_failures: 0,
            last_check_ms: Some(NOW - 1_000),
            paused_until_ms: None,
            pause_kind: None,
        }
    }

    #[test]
    fn privileged_callers_always_probe_others_only_a_stale_status() {
        assert!(should_probe(true, Some(NOW - 1_000), NOW));
        assert!(!should_probe(false, Some(NOW - 30_000), NOW));
        assert!(should_probe(false, Some(NOW - 30_001), NOW));
        assert!(should_probe(false, None, NOW));
        assert_eq!(lease_condition_seconds(true), None);
        assert_eq!(lease_condition_seconds(false), Some(30));
    }

    #[test]
    fn a_recovery_is_unavailable_before_and_available_after() {
        let down = status(ProviderState::Down);
        let up = status(ProviderState::Up);
        assert!(is_recovery(&down, NOW, &up, NOW));
        assert!(!is_recovery(&up, NOW, &up, NOW));
        assert!(!is_recovery(&down, NOW, &down, NOW));
        assert!(!is_recovery(&up, NOW, &down, NOW));
        // A provider's cool-down that ends is a recovery too; one still running is not.
        let cooling = ProviderStatus {
            paused_until_ms: Some(NOW + 5_000),
            pause_kind: Some(PauseKind::Cooldown),
            ..status(ProviderState::RateLimited)
        };
        let still_cooling = ProviderStatus {
            state: ProviderState::Up,
            ..cooling.clone()
        };
        assert!(!is_recovery(&cooling, NOW, &still_cooling, NOW));
        assert!(is_recovery(&cooling, NOW, &up, NOW));
    }
}
