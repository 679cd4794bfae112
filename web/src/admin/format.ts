// Number and time formats shared by the panel's parts.
import type { Lang } from "../i18n";

export const percent = (rate: number | null | undefined) =>
  rate == null ? "—" : `${(rate * 100).toFixed(1)} %`;

export function duration(seconds: number | null | undefined): string {
  if (seconds == null) return "—";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

export const dateTime = (iso: string | null | undefined, lang: Lang) =>
  iso ? new Date(iso).toLocaleString(lang) : "—";

export const shortId = (id: string) => id.slice(0, 8);
