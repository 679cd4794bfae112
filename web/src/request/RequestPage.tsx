// The request page: pick an emotion and an intensity, add some context, send
// it to `emotion-music-ai`, then watch the request go queued → processing →
// completed (two players) or failed (the fallback track).
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { useI18n } from "../i18n";
import { LiveModeBadge } from "../live/LiveModeBadge";
import { useLiveQueue } from "../live/useLiveQueue";
import { supabase } from "../supabase";
import { type RequestDetail, type Track, TRACK_COLUMNS } from "../admin/api";
import { EMOTIONS } from "../emotions";
import { Players, trackAsClip } from "./Players";

// Without Realtime the page reads the request every 2 s; with it, on each
// change of the user's requests, and every 30 s in case an event was lost.
const POLL_MS = 2_000;
const LIVE_MS = 30_000;

/** The function's answer: 200 processing, or 202 queued with a position. */
interface Ticket {
  status: "processing" | "queued";
  request_id: string;
  position?: number;
  estimated_wait_seconds?: number;
}

type Watched = Pick<
  RequestDetail,
  "id" | "status" | "result" | "fallback_track_id" | "error_message"
>;

export function RequestPage({ userId }: { userId: string }) {
  const { t, emotion: emotionName } = useI18n();
  const [emotion, setEmotion] = useState("calm");
  const [intensity, setIntensity] = useState(0.5);
  const [context, setContext] = useState("");
  const [ticket, setTicket] = useState<Ticket | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function send(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const { data, error } = await supabase.functions.invoke<Ticket>("emotion-music-ai", {
      body: { emotion, intensity, context: context.trim() || undefined },
    });
    setBusy(false);
    if (error) {
      const body = await (error.context as Response | undefined)?.json?.().catch(() => null);
      setError(body?.error?.message ?? error.message);
      return;
    }
    setTicket(data);
  }

  return (
    <div className="request-page">
      <form className="card" onSubmit={send} aria-labelledby="ask-title">
        <h2 id="ask-title">{t("ask")}</h2>
        <label>
          {t("emotion")}
          <select name="emotion" value={emotion} onChange={(e) => setEmotion(e.target.value)}>
            {EMOTIONS.map((name) => <option key={name} value={name}>{emotionName(name)}</option>)}
          </select>
        </label>
        <label>
          {t("intensity")} ({intensity.toFixed(2)})
          <input
            type="range"
            name="intensity"
            min={0}
            max={1}
            step={0.05}
            value={intensity}
            onChange={(e) => setIntensity(Number(e.target.value))}
          />
        </label>
        <label>
          {t("context")}
          <textarea
            name="context"
            maxLength={500}
            rows={3}
            value={context}
            onChange={(e) => setContext(e.target.value)}
          />
        </label>
        {error && <p role="alert" className="error">{error}</p>}
        <button type="submit" disabled={busy}>{t("send")}</button>
      </form>
      {ticket && <WatchRequest key={ticket.request_id} ticket={ticket} userId={userId} />}
    </div>
  );
}

/** Follows one request from the user's own rows until it is finished. */
function WatchRequest({ ticket, userId }: { ticket: Ticket; userId: string }) {
  const { t } = useI18n();
  const [row, setRow] = useState<Watched | null>(null);
  const [fallback, setFallback] = useState<Track | null>(null);
  const finished = row?.status === "completed" || row?.status === "failed";
  // Reads may overlap (an event and a poll): only the latest one's answer counts.
  const lastRead = useRef(0);

  const read = useCallback(async () => {
    const readNumber = ++lastRead.current;
    const { data } = await supabase.from("my_music_requests")
      .select("id,status,result,fallback_track_id,error_message")
      .eq("id", ticket.request_id)
      .maybeSingle();
    if (readNumber === lastRead.current && data) setRow(data as Watched);
  }, [ticket.request_id]);

  useEffect(() => {
    void read();
  }, [read]);

  const live = useLiveQueue({
    filter: `user_id=eq.${userId}`,
    read: () => void read(),
    pollMs: POLL_MS,
    liveMs: LIVE_MS,
    enabled: !finished,
  });

  useEffect(() => {
    if (!row?.fallback_track_id) return;
    void supabase.from("music_tracks").select(TRACK_COLUMNS).eq("id", row.fallback_track_id)
      .maybeSingle().then(({ data }) => setFallback(data as Track | null));
  }, [row?.fallback_track_id]);

  const status = row?.status ?? (ticket.status === "queued" ? "pending" : "processing");
  return (
    <section className="card" aria-live="polite" data-testid="watch" data-status={status}>
      <h2>
        <span className={`tag status-${status}`}>
          {status === "pending" ? t("queued") : t(`one_${status}`)}
        </span>
      </h2>
      <p className="muted mono">{ticket.request_id}</p>
      {!finished && <LiveModeBadge mode={live} pollMs={POLL_MS} />}
      {status === "pending" && ticket.position != null && (
        <p>
          {t("position")} : {ticket.position}
          {ticket.estimated_wait_seconds != null &&
            ` · ${t("estimatedWait")} : ~${ticket.estimated_wait_seconds} s`}
        </p>
      )}
      {row?.status === "completed" && row.result?.clips && <Players clips={row.result.clips} />}
      {row?.status === "failed" && (
        <>
          <p className="error">{t("failedWithFallback")}</p>
          {row.error_message && <p className="muted">{row.error_message}</p>}
          {fallback && <Players clips={[trackAsClip(fallback)]} />}
        </>
      )}
    </section>
  );
}
