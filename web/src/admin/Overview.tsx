// The overview: live counts, the provider's status, success rates, mean
// processing time, error spikes and the last worker runs.
import type { ReactNode } from "react";
import { useI18n } from "../i18n";
import { StatusBadge } from "../status/SunoServiceStatus";
import type { PublicStatus } from "../status/providerState";
import { STATUSES, type Stats, type WorkerRun } from "./api";
import { dateTime, duration, percent } from "./format";
import { SummaryLine } from "./SummaryLine";

export function Overview(
  { stats, provider, runs, live }: {
    stats: Stats;
    provider: PublicStatus | null;
    runs: WorkerRun[];
    /** How the panel keeps up (live or polling), shown by the title. */
    live: ReactNode;
  },
) {
  const { t, lang } = useI18n();
  return (
    <section aria-labelledby="overview-title" className="card">
      <div className="card-head">
        <h2 id="overview-title">{t("overview")}</h2>
        {live}
      </div>
      <dl className="counts">
        {[...STATUSES, "cancelled" as const].map((status) => (
          <div key={status} className={`count count-${status}`} data-testid={`count-${status}`}>
            <dt>{t(status)}</dt>
            <dd>{stats.counts[status]}</dd>
          </div>
        ))}
      </dl>
      <dl className="figures">
        <div>
          <dt>{t("providerStatus")}</dt>
          <dd><StatusBadge status={provider} compact /></dd>
        </div>
        <div>
          <dt>{t("responseTime")}</dt>
          <dd data-testid="response-time">
            {provider?.response_time_ms != null ? `${provider.response_time_ms} ms` : "—"}
          </dd>
        </div>
        <div>
          <dt>{t("lastCheck")}</dt>
          <dd>{dateTime(provider?.last_check_at, lang)}</dd>
        </div>
        <div>
          <dt>{t("successRate24h")}</dt>
          <dd data-testid="success-24h">{percent(stats.last_24h.success_rate)}</dd>
        </div>
        <div>
          <dt>{t("successRateAll")}</dt>
          <dd data-testid="success-all">{percent(stats.all_time.success_rate)}</dd>
        </div>
        <div>
          <dt>{t("meanProcessing")}</dt>
          <dd>{duration(stats.all_time.mean_seconds_created_to_completed)}</dd>
        </div>
        <div>
          <dt>{t("errorSpike")}</dt>
          <dd className={stats.spike.detected ? "error" : undefined}>
            {stats.spike.detected ? stats.spike.reasons.join(" ; ") : t("noSpike")}
          </dd>
        </div>
        <div>
          <dt>{t("queue")}</dt>
          <dd>{stats.paused ? `‖ ${t("queuePaused")}` : `▶ ${t("queueRunning")}`}</dd>
        </div>
      </dl>
      <h3>{t("workerRuns")}</h3>
      {runs.length === 0 ? <p className="muted">—</p> : (
        <ul className="runs" data-testid="worker-runs">
          {runs.map((run) => (
            <li key={run.id}>
              <span>{dateTime(run.started_at, lang)}</span>
              <span className="tag">{run.trigger}</span>
              <span className="tag">{run.status}</span>
              {run.summary ? <SummaryLine summary={run.summary} /> : run.error}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
