//! How each emotion sounds: a table of musical profiles, one per emotion and intensity band.
//!
//! A profile is a handful of plain words (moods, a genre, a tempo, instruments, a title) chosen
//! so that a person reading a stored prompt understands why the track sounds the way it does.
//! The table is the only place to tune the music; assembling the words into provider fields is
//! [`crate::prompt`]'s job.

use crate::emotion::{Band, Emotion};

/// The musical description of one emotion at one intensity band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// Mood adjectives, strongest last.
    pub moods: &'static [&'static str],
    /// The genre the track should be in.
    pub genre: &'static str,
    /// A tempo word, e.g. "slow".
    pub tempo: &'static str,
    /// Beats per minute matching the tempo word.
    pub bpm: u16,
    /// Instruments to feature.
    pub instruments: &'static [&'static str],
    /// The default track title.
    pub title: &'static str,
}

/// The profile for `emotion` at `band`.
pub fn profile(emotion: Emotion, band: Band) -> &'static Profile {
    let [low, medium, high] = bands(emotion);
    match band {
        Band::Low => low,
        Band::Medium => medium,
        Band::High => high,
    }
}

const fn p(
    moods: &'static [&'static str],
    genre: &'static str,
    tempo: &'static str,
    bpm: u16,
    instruments: &'static [&'static str],
    title: &'static str,
) -> Profile {
    Profile {
        moods,
        genre,
        tempo,
        bpm,
        instruments,
        title,
    }
}

fn bands(emotion: Emotion) -> &'static [Profile; 3] {
    match emotion {
        Emotion::Joy => &JOY,
        Emotion::Calm => &CALM,
        Emotion::Sad => &SAD,
        Emotion::Anger => &ANGER,
        Emotion::Anxious => &ANXIOUS,
        Emotion::Energetic => &ENERGETIC,
        Emotion::Neutral => &NEUTRAL,
    }
}

#[rustfmt::skip]
static JOY: [Profile; 3] = [
    p(&["warm", "content", "gently uplifting"], "acoustic folk", "relaxed", 92,
      &["fingerpicked acoustic guitar", "soft piano", "light shaker"], "Small Joys"),
    p(&["cheerful", "bright", "optimistic"], "indie pop", "upbeat", 112,
      &["ukulele", "handclaps", "glockenspiel", "round bass"], "Bright Side"),
    p(&["exuberant", "celebratory", "euphoric"], "dance pop", "fast", 126,
      &["shimmering synths", "four-on-the-floor drums", "brass stabs"], "Sunburst"),
];

#[rustfmt::skip]
static CALM: [Profile; 3] = [
    p(&["easy", "soft", "unhurried"], "lo-fi chillout", "slow", 76,
      &["mellow electric piano", "brushed drums", "warm bass"], "Slow Breath"),
    p(&["peaceful", "soothing", "serene"], "ambient", "very slow", 64,
      &["warm synth pads", "gentle drones", "distant chimes"], "Still Water"),
    p(&["weightless", "meditative", "deeply serene"], "neo-classical ambient", "very slow", 58,
      &["felt piano", "string ensemble", "soft harp"], "Open Sky"),
];

#[rustfmt::skip]
static SAD: [Profile; 3] = [
    p(&["wistful", "reflective", "bittersweet"], "soft indie folk", "slow", 78,
      &["acoustic guitar", "cello", "soft piano"], "Faded Letters"),
    p(&["tender", "lonely", "melancholic"], "piano ballad", "slow", 68,
      &["solo piano", "strings", "light rain textures"], "Grey Window"),
    p(&["aching", "mournful", "heartbroken"], "cinematic ballad", "very slow", 58,
      &["sustained strings", "low cello", "sparse piano"], "Long Goodbye"),
];

#[rustfmt::skip]
static ANGER: [Profile; 3] = [
    p(&["restless", "brooding", "tense"], "dark trip-hop", "mid-tempo", 90,
      &["distorted bass", "muted guitar", "heavy snare"], "Slow Burn"),
    p(&["gritty", "defiant", "aggressive"], "alternative rock", "driving", 132,
      &["overdriven guitars", "punchy drums", "growling bass"], "Clenched"),
    p(&["raw", "explosive", "furious"], "heavy metal", "very fast", 160,
      &["down-tuned guitars", "double-kick drums", "screaming leads"], "Wildfire"),
];

#[rustfmt::skip]
static ANXIOUS: [Profile; 3] = [
    p(&["fragile", "hesitant", "uneasy"], "minimal electronica", "mid-tempo", 96,
      &["ticking percussion", "thin synth arpeggios", "soft pulses"], "Restless Mind"),
    p(&["unsettled", "suspenseful", "nervous"], "cinematic electronica", "pulsing", 118,
      &["staccato strings", "pulsing synths", "heartbeat kick"], "Racing Thoughts"),
    p(&["claustrophobic", "tense", "frantic"], "industrial", "fast", 140,
      &["dissonant strings", "glitching synths", "driving toms"], "No Exit"),
];

#[rustfmt::skip]
static ENERGETIC: [Profile; 3] = [
    p(&["playful", "bouncy", "lively"], "funk", "groovy", 104,
      &["slap bass", "wah guitar", "tight drums"], "Get Moving"),
    p(&["confident", "motivating", "energetic"], "electro pop", "fast", 124,
      &["punchy synth bass", "claps", "bright leads"], "Full Charge"),
    p(&["triumphant", "relentless", "explosive"], "drum and bass", "very fast", 174,
      &["rolling breakbeats", "deep reese bass", "soaring synths"], "Overdrive"),
];

#[rustfmt::skip]
static NEUTRAL: [Profile; 3] = [
    p(&["soft", "unobtrusive", "balanced"], "ambient electronica", "slow", 80,
      &["soft pads", "light piano", "subtle beat"], "Background Hum"),
    p(&["easygoing", "steady", "balanced"], "lo-fi hip hop", "mid-tempo", 88,
      &["dusty drums", "jazzy chords", "vinyl crackle"], "Everyday"),
    p(&["bright", "steady", "focused"], "downtempo", "steady", 100,
      &["clean electric guitar", "warm bass", "crisp drums"], "Clear Head"),
];

#[cfg(test)]
mod tests {
    use super::*;

    const BANDS: [Band; 3] = [Band::Low, Band::Medium, Band::High];

    #[test]
    fn every_emotion_has_a_complete_profile_per_band() {
        for emotion in Emotion::ALL {
            for band in BANDS {
                let profile = profile(emotion, band);
                assert!(!profile.moods.is_empty(), "{emotion} {band:?}");
                assert!(!profile.instruments.is_empty(), "{emotion} {band:?}");
                assert!(!profile.title.is_empty(), "{emotion} {band:?}");
                assert!((40..=200).contains(&profile.bpm), "{emotion} {band:?}");
            }
        }
    }

    #[test]
    fn titles_are_distinct() {
        let mut titles: Vec<_> = Emotion::ALL
            .iter()
            .flat_map(|&e| BANDS.map(|b| profile(e, b).title))
            .collect();
        titles.sort_unstable();
        let count = titles.len();
        titles.dedup();
        assert_eq!(titles.len(), count);
    }
}
