//! A task's life as a script of timed steps, fixed at submit from its outcome and the
//! timeline settings. The status answered by `record-info` is the last step reached on
//! the simulated clock; the callbacks are the steps that carry one. Nothing runs per task
//! to move the status along: it is computed at each read.

use crate::clock::EPSILON;
use crate::config::Timeline;
use crate::outcome::Outcome;

/// How a task failed, as `record-info` and the `error` callback report it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Failure {
    pub status: &'static str,
    pub code: u16,
    pub message: &'static str,
    /// 531 says the credits were refunded; the simulator does refund them.
    pub refunds: bool,
}

const SENSITIVE: Failure = Failure {
    status: "SENSITIVE_WORD_ERROR",
    code: 400,
    message: "The content contains sensitive words and cannot be generated.",
    refunds: false,
};
const CREATE_FAILED: Failure = Failure {
    status: "CREATE_TASK_FAILED",
    code: 500,
    message: "Failed to create the generation task. Please try again later.",
    refunds: false,
};
const AUDIO_501: Failure = Failure {
    status: "GENERATE_AUDIO_FAILED",
    code: 501,
    message: "Audio generation failed.",
    refunds: false,
};
const AUDIO_531: Failure = Failure {
    status: "GENERATE_AUDIO_FAILED",
    code: 531,
    message: "Sorry, generation failed due to an issue. Your credits have been refunded. Please try again.",
    refunds: true,
};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    Pending,
    /// Lyrics and cover ready; stream URLs, no audio yet.
    Text,
    /// The first clip is complete; the second still has an empty `audioUrl`.
    First,
    Complete,
    /// `SUCCESS` with an empty `sunoData`.
    CompleteEmpty,
    /// Audio complete, but the vendor failed to call the webhook.
    CallbackException,
    Failed(Failure),
}

impl Phase {
    pub fn status(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Text => "TEXT_SUCCESS",
            Self::First => "FIRST_SUCCESS",
            Self::Complete | Self::CompleteEmpty => "SUCCESS",
            Self::CallbackException => "CALLBACK_EXCEPTION",
            Self::Failed(f) => f.status,
        }
    }

    /// The `callbackType` sent when this phase is reached.
    pub fn stage(self) -> Option<&'static str> {
        match self {
            Self::Text => Some("text"),
            Self::First => Some("first"),
            Self::Complete | Self::CompleteEmpty => Some("complete"),
            Self::Failed(_) => Some("error"),
            Self::Pending | Self::CallbackException => None,
        }
    }
}

/// One scripted change: at `at` simulated seconds after submit, the task enters `phase`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub at: f64,
    pub phase: Phase,
}

pub fn script(outcome: Outcome, t: &Timeline) -> Vec<Step> {
    let step = |at, phase| Step { at, phase };
    let text = step(t.text_secs, Phase::Text);
    let first = step(t.first_secs, Phase::First);
    let end = |phase| step(t.complete_secs, phase);
    match outcome {
        Outcome::Success | Outcome::LateVisibility(_) => vec![text, first, end(Phase::Complete)],
        Outcome::SuccessWithoutData => vec![text, first, end(Phase::CompleteEmpty)],
        Outcome::CallbackException => vec![text, first, end(Phase::CallbackException)],
        Outcome::Stuck => Vec::new(),
        Outcome::StuckText => vec![text],
        Outcome::SensitiveWord => vec![step(t.early_fail_secs, Phase::Failed(SENSITIVE))],
        Outcome::CreateTaskFailed => vec![step(t.early_fail_secs, Phase::Failed(CREATE_FAILED))],
        Outcome::AudioFailed501 => vec![text, step(t.first_secs, Phase::Failed(AUDIO_501))],
        Outcome::AudioFailed531 => vec![text, step(t.first_secs, Phase::Failed(AUDIO_531))],
    }
}

/// The phase reached `elapsed` simulated seconds after submit.
pub fn phase_at(script: &[Step], elapsed: f64) -> Phase {
    script
        .iter()
        .take_while(|s| s.at <= elapsed + EPSILON)
        .last()
        .map_or(Phase::Pending, |s| s.phase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_walks_every_stage() {
        let s = script(Outcome::Success, &Timeline::default());
        let status = |secs| phase_at(&s, secs).status();
        assert_eq!(status(0.0), "PENDING");
        assert_eq!(status(29.9), "PENDING");
        assert_eq!(status(30.0), "TEXT_SUCCESS");
        assert_eq!(status(40.0), "FIRST_SUCCESS");
        assert_eq!(status(119.0), "FIRST_SUCCESS");
        assert_eq!(status(120.0), "SUCCESS");
        assert_eq!(status(1e9), "SUCCESS");
    }

    #[test]
    fn failures_and_stuck() {
        let t = Timeline::default();
        let end = |o| phase_at(&script(o, &t), 1e9);
        assert_eq!(end(Outcome::Stuck), Phase::Pending);
        assert_eq!(end(Outcome::StuckText), Phase::Text);
        assert_eq!(end(Outcome::SensitiveWord).status(), "SENSITIVE_WORD_ERROR");
        assert_eq!(
            end(Outcome::CreateTaskFailed).status(),
            "CREATE_TASK_FAILED"
        );
        assert_eq!(end(Outcome::AudioFailed531), Phase::Failed(AUDIO_531));
        assert_eq!(end(Outcome::CallbackException).stage(), None);
    }
}
