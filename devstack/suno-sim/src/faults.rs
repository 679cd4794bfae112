//! Transport faults: what the network and the provider's front end do to a request before
//! (or after) the contract handles it. Rules are global and matched in the order they were
//! added. A rule can be bounded three ways: by number (`count` firings), by simulated time
//! (`from_secs`..`until_secs` on the simulator's clock, or `for_secs` from when it is
//! added) and by chance (`probability`, drawn from the simulator's seeded generator, so a
//! run with the same seed and the same requests faults the same ones). A rule whose dice
//! say no lets the request go on to the next rule.
//!
//! A request that is let through is handled in its own task, so it always runs to the end
//! even if the client gives up, as on a real server.

use crate::clock::EPSILON;
use crate::envelope;
use crate::recorder::{Endpoint, RequestSeq};
use crate::server::ConnHandle;
use crate::state::Sim;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// A real HTTP error status with an HTML body, as a proxy in front would send.
    HttpError {
        status: u16,
        #[serde(default)]
        retry_after_secs: Option<u64>,
        #[serde(default)]
        body: Option<String>,
    },
    /// HTTP 200 whose body is not JSON.
    NonJson {
        #[serde(default)]
        body: Option<String>,
    },
    /// The connection is closed (RST) without any answer; the request is not handled.
    Reset,
    /// Wait, then handle and answer normally.
    Slow { delay_ms: u64 },
    /// Handle the request fully (a submit creates and charges its task), then lose the
    /// answer: `drop` resets the connection at once, `hold` keeps it silent for `hold_ms`
    /// first, so the client's own timeout fires.
    AcceptThenLose {
        #[serde(default)]
        mode: LoseMode,
        #[serde(default = "default_hold_ms")]
        hold_ms: u64,
    },
    /// An HTTP 200 envelope with this body code (455 maintenance, 500, 405, ...).
    BodyCode {
        code: u16,
        #[serde(default)]
        msg: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoseMode {
    #[default]
    Drop,
    Hold,
}

fn default_hold_ms() -> u64 {
    600_000
}

/// Which requests a rule applies to. `any` means the three API endpoints; file downloads
/// are only faulted when asked for by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    #[default]
    Any,
    Generate,
    RecordInfo,
    Credit,
    Files,
}

impl Target {
    fn matches(self, endpoint: Endpoint) -> bool {
        match self {
            Self::Any => matches!(
                endpoint,
                Endpoint::Generate | Endpoint::RecordInfo | Endpoint::Credit
            ),
            Self::Generate => endpoint == Endpoint::Generate,
            Self::RecordInfo => endpoint == Endpoint::RecordInfo,
            Self::Credit => endpoint == Endpoint::Credit,
            Self::Files => endpoint == Endpoint::Files,
        }
    }
}

/// A rule, as `POST /__sim/faults` takes it ([`FaultRule::parse`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    #[serde(flatten)]
    pub kind: FaultKind,
    #[serde(default)]
    pub endpoint: Target,
    /// Matching requests still to fault; absent = until cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// The chance (0 < p <= 1) that a matching request is faulted; absent = always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Simulated second from which the rule applies; absent = at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_secs: Option<f64>,
    /// Simulated second at which the rule ends and is dropped; absent = never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_secs: Option<f64>,
    /// A duration instead of `until_secs`: the rule lasts this many simulated seconds from
    /// `from_secs`, or from when it is added. Turned into `until_secs` on arrival.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_secs: Option<f64>,
}

/// Every field a rule may have. serde cannot refuse unknown fields through the flattened
/// kind, so [`FaultRule::parse`] does, and a typo (`probabilty`) fails loudly.
const FIELDS: [&str; 15] = [
    "kind",
    "endpoint",
    "count",
    "probability",
    "from_secs",
    "until_secs",
    "for_secs",
    "status",
    "retry_after_secs",
    "body",
    "delay_ms",
    "mode",
    "hold_ms",
    "code",
    "msg",
];

impl FaultRule {
    /// Reads and checks one rule.
    pub fn parse(value: serde_json::Value) -> Result<FaultRule, String> {
        if let Some(unknown) = value
            .as_object()
            .and_then(|o| o.keys().find(|k| !FIELDS.contains(&k.as_str())))
        {
            return Err(format!("unknown fault field {unknown:?}"));
        }
        let rule: FaultRule = serde_json::from_value(value).map_err(|e| e.to_string())?;
        rule.check()?;
        Ok(rule)
    }

    /// What serde cannot check.
    pub fn check(&self) -> Result<(), String> {
        if self.count == Some(0) {
            return Err("count must be >= 1 (omit it for a rule that stays until cleared)".into());
        }
        if let FaultKind::HttpError { status, .. } = self.kind {
            if !(400..=599).contains(&status) {
                return Err(format!("http_error status must be 400..=599, not {status}"));
            }
        }
        if let Some(p) = self.probability {
            if !(p > 0.0 && p <= 1.0) {
                return Err(format!("probability must be > 0 and <= 1, not {p}"));
            }
        }
        let times = [self.from_secs, self.until_secs, self.for_secs];
        if times
            .iter()
            .flatten()
            .any(|t| !(t.is_finite() && *t >= 0.0))
        {
            return Err("from_secs, until_secs and for_secs must be finite numbers >= 0".into());
        }
        if self.until_secs.is_some() && self.for_secs.is_some() {
            return Err("give until_secs or for_secs, not both".into());
        }
        if let (Some(from), Some(until)) = (self.from_secs, self.until_secs) {
            if until <= from {
                return Err("until_secs must be after from_secs".into());
            }
        }
        Ok(())
    }

    /// Fixes a relative `for_secs` on the clock, now that the rule is added at `now`.
    pub fn anchored(mut self, now: f64) -> Self {
        if let Some(secs) = self.for_secs.take() {
            self.until_secs = Some(self.from_secs.unwrap_or(now) + secs);
        }
        self
    }

    /// Whether the rule's time window covers `now` (the lower bound inclusive).
    fn active_at(&self, now: f64) -> bool {
        self.from_secs.map_or(true, |from| now + EPSILON >= from) && !self.ended_at(now)
    }

    fn ended_at(&self, now: f64) -> bool {
        self.until_secs.is_some_and(|until| now + EPSILON >= until)
    }
}

/// Picks (and uses up) the first rule that matches `endpoint`, is in its time window and
/// wins its draw, noting it in the request log. Rules whose window has passed are dropped.
fn take(sim: &Sim, endpoint: Endpoint, req: Option<RequestSeq>) -> Option<FaultKind> {
    let mut st = sim.lock();
    let now = st.now();
    st.faults.retain(|r| !r.ended_at(now));
    let mut chosen = None;
    for idx in 0..st.faults.len() {
        let rule = &st.faults[idx];
        if !(rule.endpoint.matches(endpoint) && rule.active_at(now)) {
            continue;
        }
        if let Some(p) = rule.probability {
            // Drawn only for rules that could fire, so the sequence depends on the requests.
            if st.fault_rng.gen::<f64>() >= p {
                continue;
            }
        }
        chosen = Some(idx);
        break;
    }
    let idx = chosen?;
    let rule = &mut st.faults[idx];
    let kind = rule.kind.clone();
    if let Some(n) = rule.count.as_mut() {
        *n = n.saturating_sub(1);
        if *n == 0 {
            st.faults.remove(idx);
        }
    }
    if let Some(record) = req.and_then(|r| st.request_mut(r.0)) {
        record.fault = serde_json::to_value(&kind).ok();
    }
    Some(kind)
}

pub async fn apply(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    let endpoint = req
        .extensions()
        .get::<Endpoint>()
        .copied()
        .unwrap_or(Endpoint::Other);
    let seq = req.extensions().get::<RequestSeq>().copied();
    let conn = req.extensions().get::<ConnHandle>().cloned();
    let Some(kind) = take(&sim, endpoint, seq) else {
        return handle_detached(next, req, Duration::ZERO).await;
    };
    match kind {
        FaultKind::HttpError {
            status,
            retry_after_secs,
            body,
        } => http_error(status, retry_after_secs, body),
        FaultKind::NonJson { body } => non_json(body),
        FaultKind::BodyCode { code, msg } => {
            envelope::error(code, msg.as_deref().unwrap_or(envelope::default_msg(code)))
        }
        FaultKind::Reset => lose(conn).await,
        FaultKind::Slow { delay_ms } => {
            handle_detached(next, req, Duration::from_millis(delay_ms)).await
        }
        FaultKind::AcceptThenLose { mode, hold_ms } => {
            handle_detached(next, req, Duration::ZERO).await;
            if mode == LoseMode::Hold {
                tokio::time::sleep(Duration::from_millis(hold_ms)).await;
            }
            lose(conn).await
        }
    }
}

/// Handles the request in its own task after `delay`, so that a client hanging up does
/// not cancel work a real server would finish.
async fn handle_detached(next: Next, req: Request, delay: Duration) -> Response {
    let work = tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        next.run(req).await
    });
    work.await
        .unwrap_or_else(|_| envelope::error(500, envelope::default_msg(500)))
}

/// Ends the exchange without an answer. Under `serve` the connection is reset; when the
/// router runs elsewhere (no connection handle) the best available is a response whose
/// body fails, which a client also sees as a broken transfer.
async fn lose(conn: Option<ConnHandle>) -> Response {
    match conn {
        Some(conn) => {
            conn.reset();
            std::future::pending().await
        }
        None => {
            let broken = futures_util::stream::once(async {
                Err::<Bytes, _>(std::io::Error::other("simulated connection loss"))
            });
            Body::from_stream(broken).into_response()
        }
    }
}

fn http_error(status: u16, retry_after: Option<u64>, body: Option<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    let page = body.unwrap_or_else(|| {
        format!(
            "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n\
             <center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n\
             </body>\r\n</html>\r\n"
        )
    });
    let mut resp = (status, html(page)).into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn non_json(body: Option<String>) -> Response {
    let page = body.unwrap_or_else(|| {
        "<!DOCTYPE html><html><body><p>The service is busy. Please try again later.</p></body></html>"
            .to_owned()
    });
    (StatusCode::OK, html(page)).into_response()
}

fn html(page: String) -> ([(header::HeaderName, &'static str); 1], String) {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_parse_with_defaults() {
        let rule: FaultRule = serde_json::from_value(json!({"kind": "reset"})).unwrap();
        assert_eq!(rule.endpoint, Target::Any);
        assert_eq!(rule.count, None);
        let rule: FaultRule = serde_json::from_value(
            json!({"kind": "accept_then_lose", "endpoint": "generate", "count": 1}),
        )
        .unwrap();
        assert_eq!(
            rule.kind,
            FaultKind::AcceptThenLose {
                mode: LoseMode::Drop,
                hold_ms: 600_000
            }
        );
        assert!(serde_json::from_value::<FaultRule>(json!({"kind": "nope"})).is_err());
    }

    fn rule(value: serde_json::Value) -> FaultRule {
        FaultRule::parse(value).unwrap()
    }

    /// A simulator whose clock moves only when told.
    fn frozen_sim() -> Sim {
        let sim = Sim::new(crate::SimConfig {
            time_scale: 0.0,
            ..crate::SimConfig::default()
        });
        sim.lock().clock.set_scale(0.0);
        sim
    }

    fn add(sim: &Sim, value: serde_json::Value) {
        let mut st = sim.lock();
        let now = st.now();
        st.faults.push(rule(value).anchored(now));
    }

    fn fires(sim: &Sim) -> Option<FaultKind> {
        take(sim, Endpoint::Generate, None)
    }

    #[test]
    fn bounds_are_checked() {
        let bad = FaultRule::parse;
        assert!(bad(json!({"kind": "reset", "probability": 0.0})).is_err());
        assert!(bad(json!({"kind": "reset", "probability": 1.5})).is_err());
        assert!(bad(json!({"kind": "reset", "for_secs": -1})).is_err());
        assert!(bad(json!({"kind": "reset", "until_secs": 5, "for_secs": 5})).is_err());
        assert!(bad(json!({"kind": "reset", "from_secs": 5, "until_secs": 5})).is_err());
        assert!(
            bad(json!({"kind": "reset", "probabilty": 0.5})).is_err(),
            "a typo is refused"
        );
        assert!(bad(json!({"kind": "reset", "probability": 1, "for_secs": 90})).is_ok());
    }

    #[test]
    fn a_duration_is_fixed_on_the_clock_when_the_rule_arrives() {
        let relative = rule(json!({"kind": "reset", "for_secs": 90}));
        let anchored = relative.anchored(100.0);
        assert_eq!(
            (anchored.until_secs, anchored.for_secs),
            (Some(190.0), None)
        );
        let later = rule(json!({"kind": "reset", "from_secs": 500, "for_secs": 60}));
        assert_eq!(later.anchored(100.0).until_secs, Some(560.0));
    }

    #[test]
    fn a_rule_bounded_in_time_fires_inside_its_window_and_is_then_dropped() {
        let sim = frozen_sim();
        add(
            &sim,
            json!({"kind": "http_error", "status": 503, "from_secs": 30, "for_secs": 90}),
        );
        assert_eq!(fires(&sim), None, "not yet");
        sim.lock().clock.advance(30.0);
        assert!(matches!(
            fires(&sim),
            Some(FaultKind::HttpError { status: 503, .. })
        ));
        sim.lock().clock.advance(89.0);
        assert!(fires(&sim).is_some(), "still inside");
        sim.lock().clock.advance(1.0);
        assert_eq!(fires(&sim), None, "ended at 120 s");
        assert!(sim.lock().faults.is_empty(), "an ended rule is dropped");
    }

    /// Which of `n` requests a 30 % rule faults, after seeding with `seed`.
    fn pattern(seed: u64, n: usize) -> Vec<bool> {
        let sim = frozen_sim();
        sim.lock().reseed(seed);
        add(&sim, json!({"kind": "reset", "probability": 0.3}));
        (0..n).map(|_| fires(&sim).is_some()).collect()
    }

    #[test]
    fn a_probability_faults_about_that_share_the_same_way_for_the_same_seed() {
        let first = pattern(7, 1000);
        let hits = first.iter().filter(|hit| **hit).count();
        assert!((240..=360).contains(&hits), "{hits} of 1000 at 30 %");
        assert_eq!(pattern(7, 1000), first, "same seed, same requests faulted");
        assert_ne!(pattern(8, 1000), first, "another seed, another draw");
    }

    #[test]
    fn a_request_a_probability_spares_goes_on_to_the_next_rule() {
        let sim = frozen_sim();
        add(&sim, json!({"kind": "reset", "probability": 0.5}));
        add(&sim, json!({"kind": "non_json"}));
        let kinds: Vec<_> = (0..200).map(|_| fires(&sim).unwrap()).collect();
        assert!(kinds.contains(&FaultKind::Reset));
        assert!(kinds.contains(&FaultKind::NonJson { body: None }));
    }

    #[test]
    fn a_count_is_used_only_when_the_rule_fires() {
        let sim = frozen_sim();
        add(&sim, json!({"kind": "reset", "count": 3, "from_secs": 10}));
        assert_eq!(fires(&sim), None);
        sim.lock().clock.advance(10.0);
        let fired = (0..5).filter(|_| fires(&sim).is_some()).count();
        assert_eq!(fired, 3);
    }

    #[test]
    fn any_leaves_files_alone() {
        assert!(Target::Any.matches(Endpoint::Credit));
        assert!(!Target::Any.matches(Endpoint::Files));
        assert!(Target::Files.matches(Endpoint::Files));
    }
}
