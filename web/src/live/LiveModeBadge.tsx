// Which way the page keeps up with the queue, in a few quiet words, so an
// operator knows whether what they see is live or refreshed on a timer.
import { useI18n } from "../i18n";
import type { LiveMode } from "./liveMode";

export function LiveModeBadge({ mode, pollMs }: { mode: LiveMode; pollMs: number }) {
  const { t } = useI18n();
  const words = mode === "live"
    ? t("liveUpdates")
    : mode === "connecting"
    ? t("liveConnecting")
    : `${t("refreshingEvery")} ${pollMs / 1000} s`;
  return (
    <span className="live-mode" data-testid="live-mode" data-mode={mode}>
      {words}
    </span>
  );
}
