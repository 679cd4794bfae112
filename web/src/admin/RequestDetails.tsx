// One request in full: what was asked, what was sent, attempts, errors, the
// tracks or the fallback, and every event with its time.
import { useEffect, useState } from "react";
import { useI18n } from "../i18n";
import { fetchRequestDetail, type RequestDetail, type RequestEvent, type Track } from "./api";
import { dateTime } from "./format";
import { Players, trackAsClip } from "../request/Players";

interface Loaded {
  request: RequestDetail;
  events: RequestEvent[];
  fallback: Track | null;
}

export function RequestDetails(
  { id, version, onClose }: { id: string; version: number; onClose: () => void },
) {
  const { t, lang, emotion } = useI18n();
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let current = true;
    fetchRequestDetail(id).then(
      (next) => current && setLoaded(next),
      (failure: Error) => current && setError(failure.message),
    );
    return () => {
      current = false;
    };
  }, [id, version]);

  const request = loaded?.request;
  return (
    <section aria-labelledby="details-title" className="card details" data-testid="details">
      <div className="card-head">
        <h2 id="details-title">{t("details")} <span className="mono">{id}</span></h2>
        <button type="button" onClick={onClose}>{t("close")}</button>
      </div>
      {error && <p role="alert" className="error">{error}</p>}
      {request && loaded && (
        <>
          <dl className="fields">
            <dt>{t("status")}</dt>
            <dd data-testid="detail-status">{t(`one_${request.status}`)}</dd>
            <dt>{t("emotion")}</dt>
            <dd>{emotion(request.emotion)}</dd>
            <dt>{t("intensity")}</dt>
            <dd>{request.intensity}</dd>
            <dt>{t("context")}</dt>
            <dd>{request.context ?? "—"}</dd>
            <dt>{t("attempts")}</dt>
            <dd>{request.attempts}/{request.max_attempts}</dd>
            <dt>{t("created")}</dt>
            <dd>{dateTime(request.created_at, lang)}</dd>
            <dt>{t("sent")}</dt>
            <dd>
              <pre>{JSON.stringify(
                {
                  prompt: request.prompt,
                  style: request.style,
                  title: request.title,
                  instrumental: request.instrumental,
                  model: request.model,
                  task_id: request.suno_task_id,
                  provider_status: request.provider_status,
                },
                null,
                2,
              )}</pre>
            </dd>
            {(request.error_code || request.error_message) && (
              <>
                <dt>{t("error")}</dt>
                <dd className="error">{request.error_code} {request.error_message}</dd>
              </>
            )}
          </dl>
          {request.result?.clips && (
            <>
              <h3>{t("tracks")}</h3>
              <Players clips={request.result.clips} />
            </>
          )}
          {loaded.fallback && (
            <>
              <h3>{t("fallback")}</h3>
              <Players clips={[trackAsClip(loaded.fallback)]} />
            </>
          )}
          <h3>{t("history")}</h3>
          <ol className="events">
            {loaded.events.map((event) => (
              <li key={event.id}>
                <time dateTime={event.created_at}>{dateTime(event.created_at, lang)}</time>
                <strong>{event.event}</strong>
                {event.status && <span className="tag">{event.status}</span>}
                {event.attempt != null && <span className="muted">#{event.attempt}</span>}
                {event.actor && <span className="muted">{event.actor}</span>}
                {Object.keys(event.detail).length > 0 && (
                  <code className="detail">{JSON.stringify(event.detail)}</code>
                )}
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  );
}
