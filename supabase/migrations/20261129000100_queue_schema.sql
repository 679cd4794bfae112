-- Music generation queue: tables, constraints and indexes.
--
-- Holds the durable state of every request (music_generation_queue), its
-- append-only history (music_generation_events), the track library used for
-- results and fallbacks (music_tracks), the provider's health
-- (suno_api_status + suno_api_status_checks), the per-queue controls
-- (music_queues), the shared submit rate limit (music_rate_limits) and the
-- rolled-up daily totals behind the all-time statistics.
--
-- Nothing here is written directly by an API role: every change goes through
-- the SQL functions of the following migrations (grants and RLS are in
-- 20261129000500_queue_rls_grants.sql).

-- ---------------------------------------------------------------------------
-- Queues: one row per named queue. The app uses 'default'; tests and
-- benchmarks use their own so they never meet the real worker's rows.
-- ---------------------------------------------------------------------------
create table public.music_queues (
  name text primary key,
  paused boolean not null default false,
  paused_at timestamptz,
  paused_by text,
  pause_reason text,
  -- A user may have at most this many unfinished (pending or processing)
  -- requests; the next enqueue answers PT429.
  max_pending_per_user integer not null default 5,
  -- How the worker drains the queue: requests claimed per run, the pause
  -- between two submits of a run, and the attempts a new request gets. The
  -- worker reads them at the start of each run, the wait estimate too; an
  -- admin changes them with configure_music_queue. (The shared provider
  -- limit is music_rate_limits.)
  batch_size integer not null default 5,
  submit_spacing_ms integer not null default 2000,
  max_attempts integer not null default 3,
  -- At most this many requests claimed by one run. Unset, a run claims batch
  -- after batch while its time budget lasts; 5 brings back the seed's "5 per
  -- run".
  max_per_run integer,
  run_interval_seconds integer not null default 60,
  -- A submitted task still unfinished after this long is failed by
  -- music_queue_maintenance (error_code task_timeout), whatever the poller does.
  task_timeout_seconds integer not null default 1800,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint music_queues_name_format check (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  constraint music_queues_paused_fields check (paused or (paused_at is null and paused_by is null and pause_reason is null)),
  constraint music_queues_pause_reason_length check (char_length(pause_reason) <= 500),
  constraint music_queues_paused_by_length check (char_length(paused_by) <= 200),
  constraint music_queues_max_pending_range check (max_pending_per_user between 1 and 1000000),
  constraint music_queues_batch_size_range check (batch_size between 1 and 1000),
  constraint music_queues_submit_spacing_range check (submit_spacing_ms between 0 and 60000),
  constraint music_queues_max_attempts_range check (max_attempts between 1 and 10),
  constraint music_queues_max_per_run_range check (max_per_run between 1 and 100000),
  constraint music_queues_run_interval_range check (run_interval_seconds between 1 and 86400),
  constraint music_queues_task_timeout_range check (task_timeout_seconds between 60 and 604800)
);

insert into public.music_queues (name) values ('default');

-- ---------------------------------------------------------------------------
-- Requests. One row per request, kept as history.
--
-- Life of a row:
--   pending    --claim-->            processing (lease_token, lease_expires_at)
--   processing --submitted-->        processing with suno_task_id
--   processing --answer lost-->      processing awaiting a callback (no task id)
--   awaiting   --callback attaches-> processing with suno_task_id
--   processing --complete-->         completed (result, tracks)
--   processing --retry / defer / stuck resubmit--> pending (run_at later)
--   processing --fail / retry at max attempts / lease expired at max /
--                task timeout-->     failed (error, fallback track)
--   pending|processing --admin cancel--> failed
--   failed     --admin retry-->      pending
--
-- run_at is the earliest time a worker should next act on the row: for a
-- pending row the not-before time (delay, backoff, deferral); for a claimed
-- row not yet submitted, its lease expiry or the end of its callback wait
-- (after which a claim may take it back); for a submitted row, its next
-- poll. The place in line is queued_at, which run_at never changes.
-- ---------------------------------------------------------------------------
create table public.music_generation_queue (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  queue text not null default 'default' references public.music_queues (name),

  -- What the user asked for.
  emotion text not null,
  intensity double precision not null default 0.5,
  context text,
  -- The user's own style and title, if they gave any. Only these (never the
  -- style and title we send) decide whether a track may serve other users.
  asked_style text,
  asked_title text,

  -- The provider request as sent (custom mode when style is set).
  prompt text not null,
  style text,
  title text,
  instrumental boolean not null default true,
  model text,

  -- Scheduling: lower priority values are claimed first.
  priority integer not null default 5,
  status text not null default 'pending',
  attempts integer not null default 0,
  max_attempts integer not null default 3,
  run_at timestamptz not null default now(),
  -- The request's place in line: its first due time. Claims order by it, and
  -- nothing but an admin retry moves it, so a deferred or retried request
  -- keeps its place among the waiting ones.
  queued_at timestamptz not null default now(),

  -- The lease of the worker holding a processing row. The token changes at
  -- every claim: a writer presenting an older token changes nothing.
  lease_owner text,
  lease_token uuid,
  lease_expires_at timestamptz,

  -- Provider side.
  suno_task_id text,
  provider_status text,
  result jsonb,
  fallback_track_id uuid,
  fallback_same_emotion boolean,
  error_code text,
  error_message text,

  -- Submit answers lost after sending (the task may exist). While
  -- callback_wait_until is set, the row waits, with no task id, for a
  -- callback to attach the task; the claim after the first such wait submits
  -- again without counting an attempt.
  ambiguous_submits integer not null default 0,
  callback_wait_until timestamptz,
  -- Poll state of the current task: anomalous reads so far (reset with the
  -- task), and how many times the request was resubmitted because a task was
  -- stuck (kept, so it happens once).
  poll_rereads integer not null default 0,
  stuck_resubmits integer not null default 0,

  idempotency_key text,
  -- Secret carried in the provider callback URL of this request only.
  callback_token text not null default encode(extensions.gen_random_bytes(24), 'hex'),

  created_at timestamptz not null default now(),
  started_at timestamptz,
  submitted_at timestamptz,
  completed_at timestamptz,
  failed_at timestamptz,
  updated_at timestamptz not null default now(),

  constraint music_generation_queue_status_known
    check (status in ('pending', 'processing', 'completed', 'failed')),
  constraint music_generation_queue_emotion_known
    check (emotion in ('joy', 'calm', 'sad', 'anger', 'anxious', 'energetic', 'neutral')),
  constraint music_generation_queue_intensity_range check (intensity >= 0 and intensity <= 1),
  constraint music_generation_queue_context_length check (char_length(context) <= 500),
  constraint music_generation_queue_asked_style_length check (char_length(asked_style) between 1 and 1000),
  constraint music_generation_queue_asked_title_length check (char_length(asked_title) between 1 and 100),
  constraint music_generation_queue_prompt_length
    check (char_length(prompt) between 1 and 5000 and (style is not null or char_length(prompt) <= 500)),
  constraint music_generation_queue_style_length check (char_length(style) between 1 and 1000),
  constraint music_generation_queue_title_length check (char_length(title) between 1 and 100),
  constraint music_generation_queue_model_format check (model ~ '^V[0-9A-Z_]{1,15}$'),
  constraint music_generation_queue_priority_range check (priority between 0 and 9),
  constraint music_generation_queue_max_attempts_range check (max_attempts between 1 and 10),
  constraint music_generation_queue_attempts_range check (attempts between 0 and max_attempts),
  constraint music_generation_queue_lease_owner_length check (char_length(lease_owner) between 1 and 200),
  -- A lease exists exactly while the row is processing.
  constraint music_generation_queue_lease_iff_processing check (
    (status = 'processing') = (lease_owner is not null and lease_token is not null and lease_expires_at is not null)),
  constraint music_generation_queue_suno_task_id_length check (char_length(suno_task_id) between 1 and 128),
  constraint music_generation_queue_pending_not_submitted check (status <> 'pending' or suno_task_id is null),
  constraint music_generation_queue_provider_status_length check (char_length(provider_status) <= 64),
  -- Finished states carry their timestamp, and only they do.
  constraint music_generation_queue_completed_fields check (
    (status = 'completed') = (completed_at is not null)
    and (status <> 'completed' or coalesce(jsonb_typeof(result -> 'clips') = 'array', false))),
  constraint music_generation_queue_failed_fields check ((status = 'failed') = (failed_at is not null)),
  constraint music_generation_queue_fallback_only_failed check (
    fallback_track_id is null or status = 'failed'),
  constraint music_generation_queue_error_code_length check (char_length(error_code) between 1 and 64),
  constraint music_generation_queue_error_message_length check (char_length(error_message) <= 2000),
  constraint music_generation_queue_idempotency_key_length check (char_length(idempotency_key) between 1 and 255),
  constraint music_generation_queue_poll_counts_range
    check (ambiguous_submits >= 0 and poll_rereads >= 0 and stuck_resubmits >= 0),
  -- Only a processing row that has not got its task can wait for a callback.
  constraint music_generation_queue_callback_wait_unsubmitted check (
    callback_wait_until is null or (status = 'processing' and suno_task_id is null))
);

comment on table public.music_generation_queue is
  'Music generation requests; changed only through the SQL API (enqueue_music_request, claim_music_requests, ...).';
comment on column public.music_generation_queue.run_at is
  'Earliest time a worker acts next: not-before time when pending, lease expiry (or end of a callback wait) when claimed, next poll when submitted.';
comment on column public.music_generation_queue.priority is '0..9, lower values are claimed first.';
comment on column public.music_generation_queue.queued_at is
  'Place in line (claims order by priority, queued_at); deferrals and retries keep it.';

-- One request per (user, idempotency key), one per provider task. Partial,
-- so rows without a key or a task cost these indexes nothing.
create unique index music_generation_queue_idempotency_key_unique
  on public.music_generation_queue (user_id, idempotency_key) where idempotency_key is not null;
create unique index music_generation_queue_suno_task_id_unique
  on public.music_generation_queue (suno_task_id) where suno_task_id is not null;

-- The claimable rows, exactly: waiting rows, and claimed rows whose submit
-- has not been recorded (claimable again once their lease, run_at, expires).
-- Submitted and finished rows, the bulk of the table, are not in it. In
-- claim order; run_at is read from the heap, and few rows are not yet due.
create index music_generation_queue_claim_idx
  on public.music_generation_queue (queue, priority, queued_at, id)
  where status = 'pending' or (status = 'processing' and suno_task_id is null);

-- Submitted tasks to follow, by next poll time.
create index music_generation_queue_poll_idx
  on public.music_generation_queue (queue, run_at)
  where status = 'processing' and suno_task_id is not null;

-- Per-user limit on unfinished requests.
create index music_generation_queue_user_unfinished_idx
  on public.music_generation_queue (user_id)
  where status in ('pending', 'processing');

-- A user's own list (and the RLS filter behind it).
create index music_generation_queue_user_created_idx
  on public.music_generation_queue (user_id, created_at desc);

-- Admin list: newest first, optionally by status; and the enqueued series.
create index music_generation_queue_created_idx
  on public.music_generation_queue (created_at desc, id desc);
create index music_generation_queue_status_created_idx
  on public.music_generation_queue (status, created_at desc);

-- Statistics over finished rows by time (24 h window, live part of the
-- all-time totals, recent processing time for wait estimates).
create index music_generation_queue_completed_idx
  on public.music_generation_queue (queue, completed_at) include (submitted_at)
  where status = 'completed';
create index music_generation_queue_failed_idx
  on public.music_generation_queue (queue, failed_at) include (error_code)
  where status = 'failed';

-- ---------------------------------------------------------------------------
-- Track library: finished generations and the seeded fallback library.
-- Only fallback_eligible tracks (the seeded library, and instrumental
-- generations asked for without context or title, which carry nothing of
-- their requester's words) are ever given to another user.
-- ---------------------------------------------------------------------------
create table public.music_tracks (
  id uuid primary key default gen_random_uuid(),
  emotion text not null,
  title text,
  audio_url text not null,
  stream_audio_url text,
  image_url text,
  duration_seconds double precision,
  tags text,
  source text not null default 'generated',
  fallback_eligible boolean not null default false,
  request_id uuid references public.music_generation_queue (id) on delete set null,
  user_id uuid references auth.users (id) on delete cascade,
  provider_clip_id text,
  -- Provider-hosted files expire (about 15 days); null means durable.
  expires_at timestamptz,
  created_at timestamptz not null default now(),
  constraint music_tracks_emotion_known
    check (emotion in ('joy', 'calm', 'sad', 'anger', 'anxious', 'energetic', 'neutral')),
  constraint music_tracks_source_known check (source in ('library', 'generated')),
  constraint music_tracks_title_length check (char_length(title) <= 200),
  constraint music_tracks_audio_url_format check (audio_url ~ '^https?://' and char_length(audio_url) <= 2000),
  constraint music_tracks_stream_audio_url_length check (char_length(stream_audio_url) <= 2000),
  constraint music_tracks_image_url_length check (char_length(image_url) <= 2000),
  constraint music_tracks_duration_range check (duration_seconds >= 0 and duration_seconds < 3600),
  constraint music_tracks_tags_length check (char_length(tags) <= 1000),
  constraint music_tracks_provider_clip_id_length check (char_length(provider_clip_id) <= 128)
);

create unique index music_tracks_provider_clip_id_unique
  on public.music_tracks (provider_clip_id) where provider_clip_id is not null;

alter table public.music_generation_queue
  add constraint music_generation_queue_fallback_track_fk
  foreign key (fallback_track_id) references public.music_tracks (id) on delete set null;

-- Fallback pick: a random point in the id space of one emotion.
create index music_tracks_fallback_idx on public.music_tracks (emotion, id) where fallback_eligible;
create index music_tracks_fallback_any_idx on public.music_tracks (id) where fallback_eligible;
create index music_tracks_request_idx on public.music_tracks (request_id);
create index music_tracks_user_idx on public.music_tracks (user_id);
-- Deleting a track sets its uses to null: without this, a scan of the queue.
create index music_generation_queue_fallback_track_idx
  on public.music_generation_queue (fallback_track_id) where fallback_track_id is not null;

-- ---------------------------------------------------------------------------
-- Events: append-only history of each request. user_id is the request's
-- owner, copied so RLS needs no join.
-- ---------------------------------------------------------------------------
create table public.music_generation_events (
  id bigint generated always as identity primary key,
  request_id uuid not null references public.music_generation_queue (id) on delete cascade,
  user_id uuid not null,
  event text not null,
  status text,
  attempt integer,
  actor text,
  actor_user_id uuid,
  detail jsonb not null default '{}',
  created_at timestamptz not null default clock_timestamp(),
  constraint music_generation_events_event_known check (event in (
    'enqueued', 'claimed', 'submitted', 'progress', 'completed', 'retried', 'deferred',
    'failed', 'fallback', 'expired', 'admin_retried', 'cancelled',
    'awaiting_callback', 'resubmitted')),
  constraint music_generation_events_status_known
    check (status in ('pending', 'processing', 'completed', 'failed')),
  constraint music_generation_events_actor_length check (char_length(actor) <= 200),
  constraint music_generation_events_detail_object check (jsonb_typeof(detail) = 'object')
);

create index music_generation_events_request_idx on public.music_generation_events (request_id, id);
create index music_generation_events_user_idx on public.music_generation_events (user_id, created_at desc);

-- ---------------------------------------------------------------------------
-- Provider health: one current row, plus the history of checks for charts.
-- ---------------------------------------------------------------------------
create table public.suno_api_status (
  id boolean primary key default true,
  state text not null default 'up',
  is_available boolean not null default true,
  consecutive_failures integer not null default 0,
  last_check_at timestamptz,
  last_success_at timestamptz,
  last_failure_at timestamptz,
  response_time_ms integer,
  last_error text,
  credits numeric,
  -- Circuit breaker / rate-limit cool-down: no submits before this time.
  paused_until timestamptz,
  -- Who asked for the pause, which decides what ends it early:
  -- 'cooldown' (rate limited) and 'maintenance' are the provider's and run
  -- their course; 'circuit' (repeated failures) and 'config' (key refused,
  -- no credits) are ours and end at the first healthy check.
  pause_kind text,
  updated_at timestamptz not null default now(),
  constraint suno_api_status_single_row check (id),
  constraint suno_api_status_state_known check (state in (
    'up', 'degraded', 'down', 'rate_limited', 'unauthorized', 'no_credits', 'maintenance')),
  constraint suno_api_status_available_matches_state
    check (is_available = (state in ('up', 'degraded'))),
  constraint suno_api_status_consecutive_failures_range check (consecutive_failures >= 0),
  constraint suno_api_status_pause_kind_known check (pause_kind in ('circuit', 'cooldown', 'maintenance', 'config')),
  constraint suno_api_status_pause_has_kind check ((paused_until is null) = (pause_kind is null)),
  constraint suno_api_status_response_time_range check (response_time_ms >= 0),
  constraint suno_api_status_last_error_length check (char_length(last_error) <= 2000)
);

insert into public.suno_api_status (id) values (true);

create table public.suno_api_status_checks (
  id bigint generated always as identity primary key,
  checked_at timestamptz not null default clock_timestamp(),
  state text not null,
  is_available boolean not null,
  response_time_ms integer,
  http_status integer,
  error text,
  credits numeric,
  constraint suno_api_status_checks_state_known check (state in (
    'up', 'degraded', 'down', 'rate_limited', 'unauthorized', 'no_credits', 'maintenance')),
  constraint suno_api_status_checks_response_time_range check (response_time_ms >= 0),
  constraint suno_api_status_checks_http_status_range check (http_status between 100 and 599),
  constraint suno_api_status_checks_error_length check (char_length(error) <= 2000)
);

create index suno_api_status_checks_checked_at_idx on public.suno_api_status_checks (checked_at);

-- ---------------------------------------------------------------------------
-- Rate limits shared by every caller: at most `capacity` takes in any
-- sliding window of `window_seconds`. `taken` keeps the times of the last
-- `capacity` takes, oldest first.
-- ---------------------------------------------------------------------------
create table public.music_rate_limits (
  name text primary key,
  capacity integer not null,
  window_seconds numeric not null,
  taken timestamptz[] not null default '{}',
  updated_at timestamptz not null default now(),
  constraint music_rate_limits_name_format check (name ~ '^[a-z0-9][a-z0-9_.:-]{0,62}$'),
  constraint music_rate_limits_capacity_range check (capacity between 1 and 10000),
  constraint music_rate_limits_window_range check (window_seconds > 0 and window_seconds <= 86400),
  constraint music_rate_limits_taken_bounded check (cardinality(taken) <= capacity)
);

-- The provider's documented limit: 20 generate calls per 10 s, counted by
-- when they arrive; take_rate_token counts when a token is granted. A submit
-- arrives some milliseconds after its grant, not always the same number, so
-- with 10 s exactly the provider can see 21 in its window and answer 430
-- (tests/tests/function_worker.rs saw it with two runs sending at once). Half
-- a second more absorbs that jitter for 5 % of throughput.
insert into public.music_rate_limits (name, capacity, window_seconds) values ('suno_submit', 20, 10.5);

-- ---------------------------------------------------------------------------
-- All-time totals. Finished rows older than the horizon are summed per queue
-- and day here (by music_queue_maintenance), so statistics read a few
-- hundred small rows plus the last two days instead of the whole table.
-- Raw rows are never deleted by this.
-- ---------------------------------------------------------------------------
create table public.music_queue_daily_totals (
  queue text not null,
  day date not null,
  completed bigint not null default 0,
  -- Failed requests, without the admin's cancellations (counted apart).
  failed bigint not null default 0,
  cancelled bigint not null default 0,
  -- Submit to complete, over the completed requests that were submitted.
  processing_seconds_sum double precision not null default 0,
  processing_count bigint not null default 0,
  -- Enqueue to complete, over every completed request.
  total_seconds_sum double precision not null default 0,
  primary key (queue, day),
  constraint music_queue_daily_totals_counts_range
    check (completed >= 0 and failed >= 0 and cancelled >= 0 and processing_count >= 0
           and processing_seconds_sum >= 0 and total_seconds_sum >= 0)
);

create table public.music_queue_stats_horizon (
  id boolean primary key default true,
  -- Rows finished before this instant are counted in music_queue_daily_totals.
  horizon timestamptz not null default '-infinity',
  updated_at timestamptz not null default now(),
  constraint music_queue_stats_horizon_single_row check (id)
);

insert into public.music_queue_stats_horizon (id) values (true);
