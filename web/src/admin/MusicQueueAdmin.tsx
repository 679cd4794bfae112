// MusicQueueAdmin, at /admin/music-queue: overview, charts, controls, the
// request list and a request's details. Everything is read with the
// signed-in user's session; a user who is not an admin gets a refusal.
import { useCallback, useEffect, useState } from "react";
import type { Session } from "@supabase/supabase-js";
import { isAdmin } from "../auth/useSession";
import { useI18n } from "../i18n";
import { usePublicStatus } from "../status/SunoServiceStatus";
import { LiveModeBadge } from "../live/LiveModeBadge";
import { useLiveQueue } from "../live/useLiveQueue";
import {
  ApiError,
  fetchQueueSettings,
  fetchStats,
  fetchTimeseries,
  fetchWorkerRuns,
  type HourBucket,
  type QueueSettings,
  type Stats,
  type WorkerRun,
} from "./api";
import { Charts } from "./Charts";
import { download, toCsv } from "./csv";
import { Overview } from "./Overview";
import { QueueControls } from "./QueueControls";
import { RequestDetails } from "./RequestDetails";
import { RequestList } from "./RequestList";

// Without Realtime the panel reads again every 10 s; with it, on every change
// of the queue, and every minute for the worker runs no queue event announces.
const POLL_MS = 10_000;
const LIVE_MS = 60_000;

interface Panel {
  stats: Stats;
  hours: HourBucket[];
  runs: WorkerRun[];
  settings: QueueSettings;
}

export function MusicQueueAdmin({ session }: { session: Session }) {
  const { t } = useI18n();
  const admin = isAdmin(session);
  const [panel, setPanel] = useState<Panel | null>(null);
  const [refused, setRefused] = useState(!admin);
  const [error, setError] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  const [openId, setOpenId] = useState<string | null>(null);
  const provider = usePublicStatus();
  const refreshProvider = provider.refresh;

  const load = useCallback(async () => {
    try {
      const [stats, hours, runs, settings] = await Promise.all([
        fetchStats(),
        fetchTimeseries(),
        fetchWorkerRuns(),
        fetchQueueSettings(),
      ]);
      setPanel({ stats, hours, runs, settings });
      setError(null);
    } catch (failure) {
      if (failure instanceof ApiError && failure.code === "42501") setRefused(true);
      else setError((failure as Error).message);
    }
  }, []);

  // Any change: reload the panel, the list and the open request.
  const changed = useCallback(() => {
    setVersion((v) => v + 1);
    void refreshProvider();
  }, [refreshProvider]);

  useEffect(() => {
    if (!admin) return;
    void load();
  }, [admin, load, version]);

  const reread = useCallback(() => setVersion((v) => v + 1), []);
  const live = useLiveQueue({ read: reread, pollMs: POLL_MS, liveMs: LIVE_MS, enabled: admin });

  if (refused) {
    return (
      <section className="card refusal" role="alert" data-testid="refusal">
        <h2>{t("adminPage")}</h2>
        <p>{t("refused")}</p>
      </section>
    );
  }
  if (!panel) return error ? <p role="alert" className="error">{error}</p> : <p>{t("loading")}</p>;

  const exportStats = () => {
    const { stats } = panel;
    const figures = [
      ...Object.entries(stats.counts).map(([name, value]) => ({ metric: `count_${name}`, value })),
      ...Object.entries(stats.last_24h).map(([name, value]) => ({ metric: `24h_${name}`, value })),
      ...Object.entries(stats.all_time).map(([name, value]) => ({ metric: `all_${name}`, value })),
      { metric: "spike_detected", value: stats.spike.detected },
      { metric: "generated_at", value: stats.generated_at },
    ];
    download("music-queue-stats.csv", toCsv(["metric", "value"], figures));
    download(
      "music-queue-hours.csv",
      toCsv(["bucket_start", "completed", "failed", "cancelled", "mean_response_ms"], panel.hours),
    );
  };

  return (
    <div className="admin">
      {error && <p role="alert" className="error">{error}</p>}
      <Overview
        stats={panel.stats}
        provider={provider.status}
        runs={panel.runs}
        live={<LiveModeBadge mode={live} pollMs={POLL_MS} />}
      />
      <QueueControls settings={panel.settings} onChanged={changed} />
      {openId && <RequestDetails id={openId} version={version} onClose={() => setOpenId(null)} />}
      <RequestList version={version} onOpen={setOpenId} onChanged={changed} />
      <Charts hours={panel.hours} />
      <p>
        <button type="button" onClick={exportStats}>{t("exportStatsCsv")}</button>
      </p>
    </div>
  );
}
