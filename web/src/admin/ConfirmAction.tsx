// A button that asks before it acts, then shows what came of it. Every
// action of the panel goes through it.
import { useState, type ReactNode } from "react";
import { useI18n } from "../i18n";

export interface Outcome {
  ok: boolean;
  message: ReactNode;
}

/**
 * `report`, when given, receives the outcome instead of the button showing
 * it: for a button the action itself may remove (a row's "Relancer" goes
 * once the request is no longer failed).
 */
export function ConfirmAction(
  { label, question, act, danger = false, disabled = false, report }: {
    label: string;
    question: string;
    act: () => Promise<Outcome>;
    danger?: boolean;
    disabled?: boolean;
    report?: (outcome: Outcome) => void;
  },
) {
  const { t } = useI18n();
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);

  async function confirm() {
    setBusy(true);
    const show = report ?? setOutcome;
    try {
      show(await act());
    } catch (error) {
      show({ ok: false, message: (error as Error).message });
    } finally {
      setBusy(false);
      setAsking(false);
    }
  }

  return (
    <span className="confirm-action">
      <button
        type="button"
        className={danger ? "danger" : undefined}
        disabled={disabled || busy}
        onClick={() => {
          setOutcome(null);
          setAsking(true);
        }}
      >
        {label}
      </button>
      {asking && (
        <span role="dialog" aria-label={question} className="confirm">
          <span>{question}</span>
          <button type="button" onClick={confirm} disabled={busy}>{t("confirm")}</button>
          <button type="button" onClick={() => setAsking(false)} disabled={busy}>{t("back")}</button>
        </span>
      )}
      {busy && <span className="muted">{t("loading")}</span>}
      {outcome && (
        <span role={outcome.ok ? "status" : "alert"} className={outcome.ok ? "ok" : "error"}>
          {outcome.message}
        </span>
      )}
    </span>
  );
}
