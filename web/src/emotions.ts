// The emotions a request may name (the queue's check constraint), with their
// names in each language. The stored value is the English key.
export const EMOTIONS = ["joy", "calm", "sad", "anger", "anxious", "energetic", "neutral"];

export const emotionNames: Record<string, { fr: string; en: string }> = {
  joy: { fr: "Joie", en: "Joy" },
  calm: { fr: "Calme", en: "Calm" },
  sad: { fr: "Tristesse", en: "Sadness" },
  anger: { fr: "Colère", en: "Anger" },
  anxious: { fr: "Anxiété", en: "Anxiety" },
  energetic: { fr: "Énergie", en: "Energy" },
  neutral: { fr: "Neutre", en: "Neutral" },
};
