// SunoServiceStatus: the provider's state in colour, symbol and words, with
// its response time and the time of the last check. It reads the public
// status from the `suno-status-check` function every 30 s and whenever the
// tab regains focus.
import { useCallback, useEffect, useState } from "react";
import { supabase } from "../supabase";
import { useI18n } from "../i18n";
import { lookOf, type PublicStatus } from "./providerState";

const REFRESH_MS = 30_000;

/** The public status: the function first, the table's public columns if it fails. */
export async function fetchPublicStatus(): Promise<PublicStatus> {
  const { data, error } = await supabase.functions.invoke<PublicStatus>("suno-status-check", {
    method: "GET",
  });
  if (!error && data) return data;
  const row = await supabase
    .from("suno_api_status")
    .select("state,is_available,response_time_ms,last_check_at")
    .single();
  if (row.error) throw row.error;
  return row.data as PublicStatus;
}

/** The status, refreshed every 30 s and on focus; `refresh` for callers. */
export function usePublicStatus() {
  const [status, setStatus] = useState<PublicStatus | null>(null);
  const [failed, setFailed] = useState(false);
  const refresh = useCallback(async () => {
    try {
      setStatus(await fetchPublicStatus());
      setFailed(false);
    } catch {
      setFailed(true);
    }
  }, []);
  useEffect(() => {
    void refresh();
    const timer = window.setInterval(refresh, REFRESH_MS);
    const onVisible = () => {
      if (document.visibilityState === "visible") void refresh();
    };
    window.addEventListener("focus", refresh);
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      window.clearInterval(timer);
      window.removeEventListener("focus", refresh);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [refresh]);
  return { status, failed, refresh };
}

export function SunoServiceStatus({ compact = false }: { compact?: boolean }) {
  const { status, failed } = usePublicStatus();
  return <StatusBadge status={status} failed={failed} compact={compact} />;
}

/** The badge itself, for callers that already hold the status. */
export function StatusBadge(
  { status, failed = false, compact = false }: {
    status: PublicStatus | null;
    failed?: boolean;
    compact?: boolean;
  },
) {
  const { lang, t } = useI18n();
  const look = lookOf(failed ? undefined : status?.state);
  const words = status || failed ? look.words[lang] : t("loading");
  const time = status?.response_time_ms != null ? `${status.response_time_ms} ms` : "—";
  const checked = status?.last_check_at
    ? new Date(status.last_check_at).toLocaleTimeString(lang)
    : t("never");
  const label = `${t("providerStatus")} : ${words}. ${t("responseTime")} ${time}. ${
    t("lastCheck")
  } ${checked}.`;
  return (
    <div
      className="status-badge"
      role="status"
      aria-live="polite"
      aria-label={label}
      data-state={failed ? "unknown" : status?.state ?? "loading"}
      style={{ borderColor: look.colour }}
    >
      <span className="status-dot" style={{ color: look.colour }} aria-hidden="true">
        {look.symbol}
      </span>
      <span className="status-words" style={{ color: look.colour }}>{words}</span>
      {!compact && (
        <span className="status-meta">
          {time} · {t("lastCheck")} {checked}
        </span>
      )}
    </div>
  );
}
