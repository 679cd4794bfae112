// Every read and action of the panel, through PostgREST and RPC with the
// signed-in user's session, so RLS and the SQL API's admin checks decide.
import type { PostgrestError } from "@supabase/supabase-js";
import { supabase } from "../supabase";
import { searchFilter } from "./search";

export type RequestStatus = "pending" | "processing" | "completed" | "failed";
export const STATUSES: RequestStatus[] = ["pending", "processing", "completed", "failed"];

export interface Stats {
  paused: boolean;
  generated_at: string;
  counts: Record<RequestStatus | "cancelled" | "total", number>;
  last_24h: Period;
  all_time: Period;
  spike: { detected: boolean; reasons: string[]; spike_hours: number };
}

interface Period {
  completed: number;
  failed: number;
  cancelled: number;
  success_rate: number | null;
  mean_seconds_created_to_completed: number | null;
  mean_seconds_submitted_to_completed: number | null;
}

export interface HourBucket {
  bucket_start: string;
  completed: number;
  failed: number;
  cancelled: number;
  mean_response_ms: number | null;
}

export interface WorkerRun {
  id: string;
  trigger: string;
  status: string;
  started_at: string;
  finished_at: string | null;
  summary: RunSummary | null;
  error: string | null;
}

/** The worker's summary of a run (functions/core RunSummary). */
export interface RunSummary {
  run_id?: string;
  claimed: number;
  submitted: number;
  completed: number;
  retried: number;
  deferred: number;
  failed: number;
  fallbacks: number;
  skipped_reason: string | null;
  duration_ms: number;
}

export interface QueueSettings {
  name: string;
  paused: boolean;
  pause_reason: string | null;
  batch_size: number;
  submit_spacing_ms: number;
}

export interface RequestRow {
  id: string;
  emotion: string;
  intensity: number;
  status: RequestStatus;
  attempts: number;
  max_attempts: number;
  error_code: string | null;
  created_at: string;
  completed_at: string | null;
  failed_at: string | null;
}

export interface Clip {
  id?: string;
  title?: string;
  audio_url?: string;
  stream_audio_url?: string;
  image_url?: string;
  duration?: number;
  tags?: string;
}

export interface RequestDetail extends RequestRow {
  user_id: string;
  context: string | null;
  prompt: string;
  style: string | null;
  title: string | null;
  instrumental: boolean;
  model: string | null;
  suno_task_id: string | null;
  provider_status: string | null;
  result: { clips?: Clip[] } | null;
  fallback_track_id: string | null;
  error_message: string | null;
  started_at: string | null;
  submitted_at: string | null;
}

export interface RequestEvent {
  id: number;
  event: string;
  status: string | null;
  attempt: number | null;
  actor: string | null;
  detail: Record<string, unknown>;
  created_at: string;
}

export interface Track {
  id: string;
  title: string | null;
  audio_url: string;
  image_url: string | null;
  duration_seconds: number | null;
}

// Named columns: `select=*` is refused where a column is hidden.
const LIST_COLUMNS =
  "id,emotion,intensity,status,attempts,max_attempts,error_code,created_at,completed_at,failed_at";
const DETAIL_COLUMNS = `${LIST_COLUMNS},user_id,context,prompt,style,title,instrumental,model,` +
  "suno_task_id,provider_status,result,fallback_track_id,error_message,started_at,submitted_at";
export const TRACK_COLUMNS = "id,title,audio_url,image_url,duration_seconds";

/** Raised for every failed call; `code` is PostgreSQL's (42501: not allowed). */
export class ApiError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

function check<T>(result: { data: T | null; error: PostgrestError | null }): T {
  if (result.error) throw new ApiError(result.error.code, result.error.message);
  return result.data as T;
}

export const fetchStats = async () => check<Stats>(await supabase.rpc("music_queue_stats"));

export const fetchTimeseries = async () =>
  check<HourBucket[]>(await supabase.rpc("music_queue_timeseries", { p_hours: 24 }));

export const fetchWorkerRuns = async () =>
  check<WorkerRun[]>(
    await supabase.from("music_worker_runs")
      .select("id,trigger,status,started_at,finished_at,summary,error")
      .order("started_at", { ascending: false })
      .limit(5),
  );

export const fetchQueueSettings = async () =>
  check<QueueSettings>(
    await supabase.from("music_queues")
      .select("name,paused,pause_reason,batch_size,submit_spacing_ms")
      .eq("name", "default")
      .single(),
  );

/** What the list shows: a status, and a search that is an emotion or a full id. */
export interface ListFilter {
  status: RequestStatus | null;
  search: string;
}

/** Where a page starts: after the row with this time and id (newest first). */
export interface Cursor {
  created_at: string;
  id: string;
}

/**
 * One page of requests, newest first, paged by keyset on (created_at, id):
 * the index on those columns serves every page alike at a million rows,
 * where an offset would read every row it skips.
 */
export async function fetchRequests(filter: ListFilter, after: Cursor | null, limit: number) {
  let query = supabase.from("music_generation_queue").select(LIST_COLUMNS);
  if (filter.status) query = query.eq("status", filter.status);
  if (filter.search.trim()) {
    const term = searchFilter(filter.search);
    if (!term) return [];
    query = query.eq(term.column, term.value);
  }
  if (after) {
    // (created_at, id) < (at, id), which PostgREST cannot say as a row
    // comparison; the plain `lte` bound lets the index scan start at the
    // cursor instead of filtering every newer row.
    const at = `"${after.created_at}"`;
    query = query.lte("created_at", after.created_at)
      .or(`created_at.lt.${at},and(created_at.eq.${at},id.lt.${after.id})`);
  }
  return check<RequestRow[]>(
    await query.order("created_at", { ascending: false }).order("id", { ascending: false })
      .limit(limit),
  );
}

export async function fetchRequestDetail(id: string) {
  const request = check<RequestDetail>(
    await supabase.from("music_generation_queue").select(DETAIL_COLUMNS).eq("id", id).single(),
  );
  const events = check<RequestEvent[]>(
    await supabase.from("music_generation_events")
      .select("id,event,status,attempt,actor,detail,created_at")
      .eq("request_id", id)
      .order("id"),
  );
  const fallback = request.fallback_track_id
    ? check<Track>(
      await supabase.from("music_tracks").select(TRACK_COLUMNS)
        .eq("id", request.fallback_track_id).single(),
    )
    : null;
  return { request, events, fallback };
}

/** Retry or cancel: the changed row's new status, or null when nothing changed. */
export async function adminAction(action: "retry" | "cancel", id: string) {
  const name = action === "retry" ? "admin_retry_music_request" : "admin_cancel_music_request";
  const result = await supabase.rpc(name, { p_request_id: id }).select("id,status");
  const rows = check(result) as unknown as { id: string; status: RequestStatus }[];
  return rows[0]?.status ?? null;
}

export const pauseQueue = async () =>
  check<QueueSettings>(
    await supabase.rpc("pause_music_queue", { p_reason: "paused from the admin panel" }),
  );

export const resumeQueue = async () => check<QueueSettings>(await supabase.rpc("resume_music_queue"));

export const configureQueue = async (batchSize: number, spacingMs: number) =>
  check<QueueSettings>(
    await supabase.rpc("configure_music_queue", {
      p_batch_size: batchSize,
      p_submit_spacing_ms: spacingMs,
    }),
  );

export const setRateLimit = async (capacity: number, windowSeconds: number) =>
  check<{ capacity: number; window_seconds: number }>(
    await supabase.rpc("set_rate_limit", {
      p_bucket: "suno_submit",
      p_capacity: capacity,
      p_window_seconds: windowSeconds,
    }),
  );

/** Runs the worker now and waits for its summary (`?wait=true`). */
export async function runWorker(): Promise<RunSummary> {
  const { data, error } = await supabase.functions.invoke<RunSummary>(
    "music-queue-worker?wait=true",
    { method: "POST", body: {} },
  );
  if (error) {
    const body = await (error.context as Response | undefined)?.json?.().catch(() => null);
    throw new ApiError(body?.error?.code ?? "worker", body?.error?.message ?? error.message);
  }
  return data as RunSummary;
}
