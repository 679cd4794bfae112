// How each provider state reads on the badge: words in both languages, a
// colour, and a symbol, so that the state never rests on colour alone. The
// symbols are in common fonts (DejaVu, system UI fonts): no emoji.
import type { Lang } from "../i18n";

export type ProviderState =
  | "up"
  | "degraded"
  | "down"
  | "rate_limited"
  | "unauthorized"
  | "no_credits"
  | "maintenance";

export interface PublicStatus {
  state: ProviderState;
  is_available: boolean;
  response_time_ms: number | null;
  last_check_at: string | null;
}

interface StateLook {
  words: Record<Lang, string>;
  colour: string;
  symbol: string;
}

const looks: Record<ProviderState, StateLook> = {
  up: { words: { fr: "Opérationnel", en: "Up" }, colour: "#1b7f3b", symbol: "●" },
  degraded: { words: { fr: "Dégradé", en: "Degraded" }, colour: "#a15c00", symbol: "◐" },
  down: { words: { fr: "Hors service", en: "Down" }, colour: "#b3261e", symbol: "✕" },
  rate_limited: {
    words: { fr: "Limité (trop de requêtes)", en: "Rate-limited" },
    colour: "#8a4b00",
    symbol: "◔",
  },
  unauthorized: {
    words: { fr: "En pause : clé refusée", en: "Paused: key refused" },
    colour: "#6b3fa0",
    symbol: "‖",
  },
  no_credits: {
    words: { fr: "En pause : plus de crédits", en: "Paused: out of credits" },
    colour: "#6b3fa0",
    symbol: "‖",
  },
  maintenance: { words: { fr: "Maintenance", en: "Maintenance" }, colour: "#30578f", symbol: "⚠" },
};

const unknown: StateLook = {
  words: { fr: "Inconnu", en: "Unknown" },
  colour: "#5f6368",
  symbol: "?",
};

export function lookOf(state: string | undefined): StateLook {
  return (state && looks[state as ProviderState]) || unknown;
}
