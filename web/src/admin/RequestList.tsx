// The request list: newest first, filtered by status, searched by emotion
// or id, paged on the server by keyset; retry and cancel on each row; CSV
// export of every request the filter matches.
import { useEffect, useState } from "react";
import { useI18n, type LabelKey } from "../i18n";
import {
  adminAction,
  type Cursor,
  fetchRequests,
  type ListFilter,
  type RequestRow,
  type RequestStatus,
  STATUSES,
} from "./api";
import { searchFilter } from "./search";
import { ConfirmAction, type Outcome } from "./ConfirmAction";
import { download, toCsv } from "./csv";
import { dateTime, shortId } from "./format";

export const PAGE_SIZE = 25;
// The export reads page after page of this size, up to EXPORT_LIMIT rows.
const EXPORT_PAGE = 1000;
const EXPORT_LIMIT = 100_000;
const CSV_COLUMNS: (keyof RequestRow)[] = [
  "id",
  "emotion",
  "intensity",
  "status",
  "attempts",
  "max_attempts",
  "error_code",
  "created_at",
  "completed_at",
  "failed_at",
];

export function RequestList(
  { version, onOpen, onChanged }: {
    version: number;
    onOpen: (id: string) => void;
    onChanged: () => void;
  },
) {
  const { t, lang, emotion } = useI18n();
  const [filter, setFilter] = useState<ListFilter>({ status: null, search: "" });
  // The cursors of the pages before this one, and this page's own.
  const [cursors, setCursors] = useState<(Cursor | null)[]>([null]);
  const [rows, setRows] = useState<RequestRow[] | null>(null);
  const [hasOlder, setHasOlder] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // The outcome of the last row action, kept above the list: the row's own
  // button may be gone once the list reloads.
  const [notice, setNotice] = useState<Outcome | null>(null);
  const cursor = cursors[cursors.length - 1];

  // One load per filter, page or change; an answer that arrives after a newer
  // load started is dropped, so a slow old page never replaces a new one.
  useEffect(() => {
    let current = true;
    fetchRequests(filter, cursor, PAGE_SIZE + 1).then(
      (page) => {
        if (!current) return;
        setHasOlder(page.length > PAGE_SIZE);
        setRows(page.slice(0, PAGE_SIZE));
        setError(null);
      },
      (failure: Error) => current && setError(failure.message),
    );
    return () => {
      current = false;
    };
  }, [filter, cursor, version]);

  const changeFilter = (next: Partial<ListFilter>) => {
    setFilter((current) => ({ ...current, ...next }));
    setCursors([null]);
  };

  async function exportCsv() {
    const all: RequestRow[] = [];
    let after: Cursor | null = null;
    while (all.length < EXPORT_LIMIT) {
      const page = await fetchRequests(filter, after, EXPORT_PAGE);
      all.push(...page);
      if (page.length < EXPORT_PAGE) break;
      after = page[page.length - 1];
    }
    const name = `music-requests${filter.status ? `-${filter.status}` : ""}.csv`;
    download(name, toCsv(CSV_COLUMNS, all));
  }

  const act = (action: "retry" | "cancel", id: string) => async (): Promise<Outcome> => {
    const status = await adminAction(action, id);
    onChanged();
    const label = `${t(action)} ${shortId(id)}`;
    return status
      ? { ok: true, message: `${label} — ${t("actionDone")} : ${t(`one_${status}`)}` }
      : { ok: false, message: `${label} — ${t("actionNothing")}` };
  };

  const unknownSearch = filter.search.trim() !== "" && !searchFilter(filter.search);

  return (
    <section aria-labelledby="requests-title" className="card">
      <h2 id="requests-title">{t("requests")}</h2>
      <div className="toolbar">
        <label>
          {t("status")}
          <select
            name="status"
            value={filter.status ?? ""}
            onChange={(e) =>
              changeFilter({ status: (e.target.value || null) as RequestStatus | null })}
          >
            <option value="">{t("all")}</option>
            {STATUSES.map((status) => (
              <option key={status} value={status}>{t(status as LabelKey)}</option>
            ))}
          </select>
        </label>
        <label>
          {t("search")}
          <input
            type="search"
            name="search"
            value={filter.search}
            onChange={(e) => changeFilter({ search: e.target.value })}
          />
        </label>
        <button type="button" onClick={exportCsv}>{t("exportCsv")}</button>
      </div>
      {unknownSearch && <p className="muted">{t("searchHint")}</p>}
      {notice && (
        <p role={notice.ok ? "status" : "alert"} className={notice.ok ? "ok" : "error"}
          data-testid="row-action-outcome">
          {notice.message}
        </p>
      )}
      {error && <p role="alert" className="error">{error}</p>}
      {rows && rows.length === 0 && <p>{t("noRequests")}</p>}
      {rows && rows.length > 0 && (
        <div className="table-wrap">
          <table className="requests">
            <thead>
              <tr>
                <th scope="col">id</th>
                <th scope="col">{t("emotion")}</th>
                <th scope="col">{t("status")}</th>
                <th scope="col">{t("attempts")}</th>
                <th scope="col">{t("created")}</th>
                <th scope="col">
                  <span className="visually-hidden">actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.id} data-id={row.id} data-status={row.status}>
                  <td>
                    <button type="button" className="link mono" onClick={() => onOpen(row.id)}>
                      {shortId(row.id)}
                    </button>
                  </td>
                  <td>{emotion(row.emotion)} · {row.intensity.toFixed(2)}</td>
                  <td>
                    <span className={`tag status-${row.status}`}>
                      {t(`one_${row.status}`)}
                    </span>
                    {row.error_code && <span className="muted"> {row.error_code}</span>}
                  </td>
                  <td>{row.attempts}/{row.max_attempts}</td>
                  <td>{dateTime(row.created_at, lang)}</td>
                  <td className="row-actions">
                    {row.status === "failed" && (
                      <ConfirmAction
                        label={t("retry")}
                        question={t("confirmRetry")}
                        act={act("retry", row.id)}
                        report={setNotice}
                      />
                    )}
                    {(row.status === "pending" || row.status === "processing") && (
                      <ConfirmAction
                        label={t("cancel")}
                        question={t("confirmCancel")}
                        act={act("cancel", row.id)}
                        report={setNotice}
                        danger
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="pager">
        <button
          type="button"
          disabled={cursors.length === 1}
          onClick={() => setCursors((all) => all.slice(0, -1))}
        >
          ← {t("newer")}
        </button>
        <button
          type="button"
          disabled={!hasOlder || !rows}
          onClick={() => rows && setCursors((all) => [...all, rows[rows.length - 1]])}
        >
          {t("older")} →
        </button>
      </div>
    </section>
  );
}
