//! How long to wait: exponential backoff with jitter, rate-limit cool-downs, `Retry-After`.
//!
//! Everything is a pure function of the attempt number and a caller-supplied seed, so the
//! same inputs always give the same wait and tests need no clock or random source.
//!
//! With the defaults (base 30 s, cap 15 min) the wait before retrying after attempt `n` is
//! drawn from `[floor(n), floor(n) × 1.5]` where `floor(n) = 30 s × 2^(n-1)`, capped:
//!
//! | attempt | wait          |
//! |---------|---------------|
//! | 1       | 30 s – 45 s   |
//! | 2       | 60 s – 90 s   |
//! | 3       | 2 min – 3 min |
//! | 4       | 4 min – 6 min |
//! | 5       | 8 min – 12 min |
//! | 6+      | 15 min        |
//!
//! Because the jitter never reaches the next floor (×1.5 < ×2), a later attempt never waits
//! less than an earlier one, whatever the seeds. Which outcome waits how is decided by
//! [`crate::plan`] and [`crate::poll`]; provider-wide pauses by [`crate::health`].

use serde::{Deserialize, Serialize};

use crate::classify::Classification;
use crate::config::Config;
use crate::time::after;

/// A provider's `Retry-After` is honoured up to this many milliseconds (one hour), so that a
/// broken header cannot park the queue for days.
pub const MAX_RETRY_AFTER_MS: u64 = 60 * 60 * 1000;

/// Exponential backoff between attempts of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    /// The floor of the first wait.
    pub base_ms: u64,
    /// No wait is longer (unless a `Retry-After` asks for more).
    pub cap_ms: u64,
}

impl Backoff {
    /// A backoff from `base_ms` doubling up to `cap_ms` (raised to `base_ms` if smaller).
    pub fn new(base_ms: u64, cap_ms: u64) -> Backoff {
        Backoff {
            base_ms,
            cap_ms: cap_ms.max(base_ms),
        }
    }

    /// The shortest wait after `attempt` (1-based; 0 counts as 1).
    pub fn floor_ms(&self, attempt: u32) -> u64 {
        doubled(self.base_ms, attempt).min(self.cap_ms)
    }

    /// The longest wait after `attempt`.
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let floor = self.floor_ms(attempt);
        floor.saturating_add(floor / 2).min(self.cap_ms)
    }

    /// The wait after `attempt`, jittered by `seed` within `[floor, ceiling]`.
    pub fn delay_ms(&self, attempt: u32, seed: u64) -> u64 {
        let floor = self.floor_ms(attempt);
        let span = self.ceiling_ms(attempt) - floor;
        floor + jitter(seed, attempt, span)
    }

    /// [`Backoff::delay_ms`], or the provider's `Retry-After` when that is longer.
    pub fn delay_with_retry_after_ms(
        &self,
        attempt: u32,
        seed: u64,
        retry_after_ms: Option<u64>,
    ) -> u64 {
        honour_retry_after(self.delay_ms(attempt, seed), retry_after_ms)
    }
}

impl Default for Backoff {
    /// 30 s doubling to 15 min.
    fn default() -> Backoff {
        Backoff::new(30_000, 15 * 60_000)
    }
}

/// The global pause after the provider says "too many requests".
///
/// Consecutive rate limits double the pause (10 s, 20 s, 40 s, … up to the cap); one
/// success resets the streak. No jitter: every caller shares the same pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cooldown {
    /// The first pause; at least [`Cooldown::MIN_BASE_MS`].
    pub base_ms: u64,
    /// The longest pause.
    pub cap_ms: u64,
}

impl Cooldown {
    /// The provider reference asks for at least ten seconds.
    pub const MIN_BASE_MS: u64 = 10_000;

    /// A cool-down from `base_ms` (raised to 10 s) doubling up to `cap_ms`.
    pub fn new(base_ms: u64, cap_ms: u64) -> Cooldown {
        let base_ms = base_ms.max(Cooldown::MIN_BASE_MS);
        Cooldown {
            base_ms,
            cap_ms: cap_ms.max(base_ms),
        }
    }

    /// The pause after the `streak`-th consecutive rate limit (1-based; 0 counts as 1).
    pub fn pause_ms(&self, streak: u32) -> u64 {
        doubled(self.base_ms, streak).min(self.cap_ms)
    }

    /// [`Cooldown::pause_ms`], or the provider's `Retry-After` when that is longer.
    pub fn pause_with_retry_after_ms(&self, streak: u32, retry_after_ms: Option<u64>) -> u64 {
        honour_retry_after(self.pause_ms(streak), retry_after_ms)
    }
}

impl Default for Cooldown {
    /// 10 s doubling to 5 min.
    fn default() -> Cooldown {
        Cooldown::new(10_000, 5 * 60_000)
    }
}

/// Reads a `Retry-After` header given in seconds. The HTTP-date form is not supported (it
/// would need a clock to compare with) and gives `None`, as do negative or absurd values.
pub fn parse_retry_after(value: &str) -> Option<u64> {
    let seconds: u64 = value.trim().parse().ok()?;
    seconds.checked_mul(1000)
}

fn honour_retry_after(wait_ms: u64, retry_after_ms: Option<u64>) -> u64 {
    let asked = retry_after_ms.unwrap_or(0).min(MAX_RETRY_AFTER_MS);
    wait_ms.max(asked)
}

/// `base × 2^(n-1)`, saturating.
fn doubled(base: u64, n: u32) -> u64 {
    let shift = n.max(1) - 1;
    if shift >= 63 {
        return if base == 0 { 0 } else { u64::MAX };
    }
    base.saturating_mul(1 << shift)
}

/// A number in `0..=span` derived from `seed` and `attempt` (SplitMix64 finaliser).
fn jitter(seed: u64, attempt: u32, span: u64) -> u64 {
    if span == 0 {
        return 0;
    }
    let mut z = seed ^ u64::from(attempt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    match span.checked_add(1) {
        Some(modulus) => z % modulus,
        None => z,
    }
}

/// When to try again after failed attempt number `attempt`: the backoff, or the provider's
/// `Retry-After` when longer.
pub fn retry_at(
    attempt: u32,
    outcome: &Classification,
    now_ms: i64,
    seed: u64,
    config: &Config,
) -> i64 {
    let wait = config
        .backoff()
        .delay_with_retry_after_ms(attempt, seed, outcome.retry_after_ms);
    after(now_ms, wait)
}

/// The failure message once every attempt is spent.
pub fn exhausted(outcome: &Classification, attempts: u32) -> String {
    format!("{} (after {attempts} attempts)", outcome.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_matches_the_documented_table() {
        let backoff = Backoff::default();
        let range = |n| (backoff.floor_ms(n), backoff.ceiling_ms(n));
        assert_eq!(range(1), (30_000, 45_000));
        assert_eq!(range(2), (60_000, 90_000));
        assert_eq!(range(3), (120_000, 180_000));
        assert_eq!(range(4), (240_000, 360_000));
        assert_eq!(range(5), (480_000, 720_000));
        assert_eq!(range(6), (900_000, 900_000));
        assert_eq!(range(100), (900_000, 900_000));
    }

    #[test]
    fn delay_is_deterministic_for_a_seed() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay_ms(2, 42), backoff.delay_ms(2, 42));
        let spread: std::collections::HashSet<_> =
            (0..50).map(|seed| backoff.delay_ms(2, seed)).collect();
        assert!(spread.len() > 10, "jitter should spread waits: {spread:?}");
    }

    #[test]
    fn attempt_zero_counts_as_one() {
        let backoff = Backoff::default();
        assert_eq!(backoff.floor_ms(0), backoff.floor_ms(1));
    }

    #[test]
    fn retry_after_wins_when_longer_and_is_bounded() {
        let backoff = Backoff::default();
        assert_eq!(
            backoff.delay_with_retry_after_ms(1, 0, Some(3_600_000)),
            3_600_000
        );
        assert_eq!(
            backoff.delay_with_retry_after_ms(1, 0, Some(u64::MAX)),
            MAX_RETRY_AFTER_MS
        );
        let plain = backoff.delay_ms(1, 0);
        assert_eq!(backoff.delay_with_retry_after_ms(1, 0, Some(1_000)), plain);
    }

    #[test]
    fn cooldown_doubles_from_at_least_ten_seconds() {
        let cooldown = Cooldown::default();
        assert_eq!(cooldown.pause_ms(1), 10_000);
        assert_eq!(cooldown.pause_ms(2), 20_000);
        assert_eq!(cooldown.pause_ms(3), 40_000);
        assert_eq!(cooldown.pause_ms(30), 300_000);
        assert_eq!(Cooldown::new(1_000, 60_000).pause_ms(1), 10_000);
        assert_eq!(cooldown.pause_with_retry_after_ms(1, Some(25_000)), 25_000);
    }

    #[test]
    fn retry_after_header_is_read_in_seconds() {
        assert_eq!(parse_retry_after(" 120 "), Some(120_000));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn huge_attempts_do_not_overflow() {
        let backoff = Backoff::new(u64::MAX / 2, u64::MAX);
        assert!(backoff.delay_ms(u32::MAX, u64::MAX) >= backoff.floor_ms(1));
    }
}
