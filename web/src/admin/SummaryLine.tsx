// A worker run's summary on one line, as the worker reported it.
import type { RunSummary } from "./api";

const FIELDS: (keyof RunSummary)[] = [
  "claimed",
  "submitted",
  "completed",
  "retried",
  "deferred",
  "failed",
  "fallbacks",
];

export function SummaryLine({ summary }: { summary: RunSummary }) {
  return (
    <span className="summary" data-testid="run-summary">
      {FIELDS.map((field) => `${field} ${summary[field] ?? 0}`).join(" · ")}
      {summary.skipped_reason ? ` · skipped: ${summary.skipped_reason}` : ""}
      {` · ${summary.duration_ms ?? 0} ms`}
    </span>
  );
}
