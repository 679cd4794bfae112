// The queue's controls: run the worker now, pause or resume, and change the
// batch size, the spacing between submits and the shared provider limit.
import { useState } from "react";
import { useI18n } from "../i18n";
import {
  configureQueue,
  pauseQueue,
  type QueueSettings,
  resumeQueue,
  runWorker,
  setRateLimit,
} from "./api";
import { ConfirmAction, type Outcome } from "./ConfirmAction";
import { SummaryLine } from "./SummaryLine";

export function QueueControls(
  { settings, onChanged }: { settings: QueueSettings; onChanged: () => void },
) {
  const { t } = useI18n();
  const [batchSize, setBatchSize] = useState(String(settings.batch_size));
  const [spacing, setSpacing] = useState(String(settings.submit_spacing_ms));
  // The limit is not readable by admins (only set_rate_limit's answer is):
  // the fields start from the product's default, 20 submits per 10.5 s (the
  // provider's 10 s and the margin the seed gives it: saving the defaults
  // must not take the margin away).
  const [capacity, setCapacity] = useState("20");
  const [windowSeconds, setWindowSeconds] = useState("10.5");

  const then = (message: string) => (): Outcome => {
    onChanged();
    return { ok: true, message };
  };

  return (
    <section aria-labelledby="controls-title" className="card controls">
      <h2 id="controls-title">{t("settings")}</h2>
      <div className="toolbar">
        <ConfirmAction
          label={t("runWorker")}
          question={t("confirmRun")}
          act={async () => {
            const summary = await runWorker();
            onChanged();
            return {
              ok: true,
              message: (
                <>
                  {t("runSummary")} : <SummaryLine summary={summary} />
                </>
              ),
            };
          }}
        />
        {settings.paused
          ? (
            <ConfirmAction
              label={t("resume")}
              question={t("confirmResume")}
              act={() => resumeQueue().then(then(t("queueRunning")))}
            />
          )
          : (
            <ConfirmAction
              label={t("pause")}
              question={t("confirmPause")}
              act={() => pauseQueue().then(then(t("queuePaused")))}
            />
          )}
      </div>
      <div className="toolbar">
        <label>
          {t("batchSize")}
          <input
            type="number"
            name="batch_size"
            min={1}
            max={1000}
            value={batchSize}
            onChange={(e) => setBatchSize(e.target.value)}
          />
        </label>
        <label>
          {t("spacing")}
          <input
            type="number"
            name="submit_spacing_ms"
            min={0}
            max={60000}
            value={spacing}
            onChange={(e) => setSpacing(e.target.value)}
          />
        </label>
        <ConfirmAction
          label={t("save")}
          question={t("confirmSettings")}
          act={async () => {
            const saved = await configureQueue(Number(batchSize), Number(spacing));
            onChanged();
            return {
              ok: true,
              message: `${t("batchSize")} ${saved.batch_size} · ${t("spacing")} ${saved.submit_spacing_ms}`,
            };
          }}
        />
      </div>
      <div className="toolbar">
        <label>
          {t("rateLimit")}
          <input
            type="number"
            name="rate_capacity"
            min={1}
            value={capacity}
            onChange={(e) => setCapacity(e.target.value)}
          />
        </label>
        <label>
          {t("windowSeconds")}
          <input
            type="number"
            name="rate_window"
            min={1}
            step="any"
            value={windowSeconds}
            onChange={(e) => setWindowSeconds(e.target.value)}
          />
        </label>
        <ConfirmAction
          label={t("save")}
          question={t("confirmSettings")}
          act={async () => {
            const saved = await setRateLimit(Number(capacity), Number(windowSeconds));
            return { ok: true, message: `${saved.capacity} / ${saved.window_seconds} s` };
          }}
        />
      </div>
    </section>
  );
}
