//! Simulated time. A task's life is measured on this clock, which runs `scale` times
//! faster than real time, can be frozen (scale 0) and can jump forward on request.
//! Changing the scale re-anchors the clock so time already elapsed is kept.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Simulated instants this close count as equal: after `advance(40)` then `advance(80)`
/// the clock must read "120 s after submit" even if float rounding lands a hair short.
pub const EPSILON: f64 = 1e-6;

#[derive(Debug, Clone)]
pub struct SimClock {
    anchor: Instant,
    anchor_secs: f64,
    scale: f64,
}

impl SimClock {
    pub fn new(scale: f64) -> Self {
        Self {
            anchor: Instant::now(),
            anchor_secs: 0.0,
            scale,
        }
    }

    /// Simulated seconds since the clock was created.
    pub fn now(&self) -> f64 {
        self.anchor_secs + self.anchor.elapsed().as_secs_f64() * self.scale
    }

    pub fn set_scale(&mut self, scale: f64) {
        self.rebase(0.0);
        self.scale = scale;
    }

    pub fn advance(&mut self, secs: f64) {
        self.rebase(secs.max(0.0));
    }

    fn rebase(&mut self, extra: f64) {
        self.anchor_secs = self.now() + extra;
        self.anchor = Instant::now();
    }

    /// Real time left until simulated time `at`; `None` when the clock is frozen.
    pub fn real_until(&self, at: f64) -> Option<Duration> {
        let left = at - self.now();
        if left <= EPSILON {
            Some(Duration::ZERO)
        } else if self.scale == 0.0 {
            None
        } else {
            Some(Duration::from_secs_f64(left / self.scale))
        }
    }
}

/// Wall-clock milliseconds since the Unix epoch (for `createTime` and logs).
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, the `createTime` spelling of the callback docs.
pub fn format_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01, by 400-year eras.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(format_utc(1_735_689_599_000), "2024-12-31 23:59:59");
    }

    #[test]
    fn frozen_clock_moves_only_when_told() {
        let mut clock = SimClock::new(0.0);
        assert_eq!(clock.now(), 0.0);
        assert_eq!(clock.real_until(1.0), None);
        clock.advance(30.0);
        assert_eq!(clock.now(), 30.0);
        assert_eq!(clock.real_until(25.0), Some(Duration::ZERO));
        clock.set_scale(10.0);
        let left = clock.real_until(40.0).unwrap();
        assert!(left <= Duration::from_secs(1) && left > Duration::from_millis(900));
    }

    #[test]
    fn stepwise_advances_reach_a_deadline_despite_rounding() {
        let mut clock = SimClock::new(0.0);
        // Chosen so that (t0 + 40) + 80 < t0 + 120 in f64.
        let t0 = 0.007_897_095_099_888_33;
        clock.advance(t0);
        clock.advance(40.0);
        clock.advance(80.0);
        assert!(clock.now() < t0 + 120.0);
        assert_eq!(clock.real_until(t0 + 120.0), Some(Duration::ZERO));
    }
}
