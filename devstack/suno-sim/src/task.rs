//! A submitted generation: what was asked, the two clips it will produce, and the script
//! of its life. Everything random about a task is drawn once, at submit.

use crate::clock::EPSILON;
use crate::config::Timeline;
use crate::outcome::Outcome;
use crate::timeline::{self, Phase, Step};
use crate::validate::GenerateParams;
use rand::Rng;

#[derive(Debug, Clone)]
pub struct Clip {
    pub id: String,
    pub title: String,
    pub tags: String,
    pub lyrics: String,
    pub duration: f64,
}

#[derive(Debug, Clone)]
pub struct Task {
    pub seq: u64,
    pub id: String,
    pub outcome: Outcome,
    pub params: GenerateParams,
    /// The request body, re-serialised: `record-info` answers it as the `param` string.
    pub param_json: String,
    pub created_sim: f64,
    pub created_ms: u64,
    /// `record-info` answers `data: null` until this many simulated seconds have passed.
    pub hidden_secs: f64,
    pub script: Vec<Step>,
    pub clips: Vec<Clip>,
    pub credits_charged: i64,
    pub refunded: bool,
    /// Set when the `complete` callback gave up and `mark_callback_exception` is on.
    pub delivery_failed: bool,
    /// Sequence number of the logged request that created it.
    pub request_seq: Option<u64>,
}

pub struct NewTask {
    pub seq: u64,
    pub outcome: Outcome,
    pub params: GenerateParams,
    pub param_json: String,
    pub created_sim: f64,
    pub created_ms: u64,
    pub credits_charged: i64,
    pub request_seq: Option<u64>,
}

impl Task {
    pub fn new(n: NewTask, timeline: &Timeline) -> Self {
        let mut rng = rand::thread_rng();
        let title = clip_title(&n.params);
        let tags = clip_tags(&n.params, &mut rng);
        let lyrics = clip_lyrics(&n.params, &title);
        let clips = (0..2)
            .map(|_| Clip {
                id: uuid_like(&mut rng),
                title: title.clone(),
                tags: tags.clone(),
                lyrics: lyrics.clone(),
                duration: f64::from(rng.gen_range(12_000..24_000u32)) / 100.0,
            })
            .collect();
        let hidden_secs = match n.outcome {
            Outcome::LateVisibility(secs) => secs.unwrap_or(timeline.late_visibility_secs),
            _ => 0.0,
        };
        Self {
            seq: n.seq,
            id: hex_id(&mut rng),
            outcome: n.outcome,
            script: timeline::script(n.outcome, timeline),
            params: n.params,
            param_json: n.param_json,
            created_sim: n.created_sim,
            created_ms: n.created_ms,
            hidden_secs,
            clips,
            credits_charged: n.credits_charged,
            refunded: false,
            delivery_failed: false,
            request_seq: n.request_seq,
        }
    }

    /// Where the task stands at simulated time `now`.
    pub fn phase(&self, now: f64) -> Phase {
        match timeline::phase_at(&self.script, now - self.created_sim) {
            Phase::Complete if self.delivery_failed => Phase::CallbackException,
            phase => phase,
        }
    }

    pub fn visible(&self, now: f64) -> bool {
        now - self.created_sim + EPSILON >= self.hidden_secs
    }
}

/// 32 lowercase hex digits, like sunoapi.org task ids.
fn hex_id(rng: &mut impl Rng) -> String {
    format!("{:032x}", rng.gen::<u128>())
}

/// The 8-4-4-4-12 shape of Suno clip ids.
fn uuid_like(rng: &mut impl Rng) -> String {
    let h = format!("{:032x}", rng.gen::<u128>());
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn clip_title(p: &GenerateParams) -> String {
    if p.custom_mode {
        return p.title.clone();
    }
    // Non-custom mode invents a title; a few words of the description will do.
    let words: Vec<&str> = p.prompt.split_whitespace().take(4).collect();
    if words.is_empty() {
        "Untitled".to_owned()
    } else {
        words.join(" ")
    }
}

fn clip_tags(p: &GenerateParams, rng: &mut impl Rng) -> String {
    const INVENTED: [&str; 5] = [
        "ambient, cinematic, calm",
        "pop, upbeat, bright",
        "lofi, chill, mellow",
        "rock, energetic, driving",
        "acoustic, warm, folk",
    ];
    if p.custom_mode {
        p.style.clone()
    } else {
        INVENTED[rng.gen_range(0..INVENTED.len())].to_owned()
    }
}

fn clip_lyrics(p: &GenerateParams, title: &str) -> String {
    if p.instrumental {
        "[Instrumental]".to_owned()
    } else if p.custom_mode {
        p.prompt.clone()
    } else {
        format!("[Verse]\n{}\n\n[Chorus]\n{title}", p.prompt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(custom: bool) -> GenerateParams {
        GenerateParams {
            custom_mode: custom,
            instrumental: false,
            model: "V5".into(),
            prompt: "a quiet walk by the sea at night".into(),
            style: "piano".into(),
            title: "Tide".into(),
            callback_url: "http://cb".into(),
        }
    }

    fn task(outcome: Outcome, custom: bool) -> Task {
        let n = NewTask {
            seq: 1,
            outcome,
            params: params(custom),
            param_json: "{}".into(),
            created_sim: 100.0,
            created_ms: 0,
            credits_charged: 12,
            request_seq: None,
        };
        Task::new(n, &Timeline::default())
    }

    #[test]
    fn ids_and_clips() {
        let t = task(Outcome::Success, false);
        assert_eq!(t.id.len(), 32);
        assert!(t
            .id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_uppercase()));
        assert_eq!(t.clips.len(), 2);
        assert_ne!(t.clips[0].id, t.clips[1].id);
        assert_eq!(t.clips[0].title, "a quiet walk by");
        assert_eq!(task(Outcome::Success, true).clips[1].tags, "piano");
    }

    #[test]
    fn phase_is_relative_to_submit_and_late_visibility_hides() {
        let mut t = task(Outcome::LateVisibility(Some(5.0)), true);
        assert_eq!(t.phase(129.0), Phase::Pending);
        assert_eq!(t.phase(131.0), Phase::Text);
        assert!(!t.visible(104.0));
        assert!(t.visible(105.0));
        t.delivery_failed = true;
        assert_eq!(t.phase(220.0), Phase::CallbackException);
    }
}
