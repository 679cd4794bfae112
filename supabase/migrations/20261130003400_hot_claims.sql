-- A claim no longer writes an index entry: it is a HOT update.
--
-- PostgreSQL can update a row in place on its page, without a new entry in
-- every index (a HOT update), only when no column that an index mentions, as
-- a key, an included column or in its predicate, changes. A claim changes `status` and `run_at`:
-- six indexes named `status` in their predicate or as a key, and the poll
-- index was keyed on `run_at`, so every claim wrote six index entries and a
-- whole new row elsewhere (BENCHMARKS.md, "Queue cost per job": 6-17 % more
-- jobs/s at batch 5 with this file, 0.66 kB less WAL per job).
--
-- * The partial indexes say which rows they hold with the columns that a
--   claim leaves alone: by the state checks, a request is unfinished exactly
--   when `completed_at` and `failed_at` are null, completed when
--   `completed_at` is set, failed when `failed_at` is, and waiting for a claim
--   (pending, or processing with no task) when it is unfinished and has no
--   `suno_task_id`. They hold the same rows as before.
-- * The poll index is keyed on the queue alone. A queue has few submitted
--   requests in flight (the provider's limits see to that), so the poll claim
--   sorts them by `run_at` itself; polls and wakes, which move `run_at`, are
--   HOT updates too.
-- * `status_created_idx` goes. The panel's status filter reads newest first
--   through `created_idx`; waiting and running requests are the newest, and
--   failed and completed ones are a tenth or more of the rows.
-- * The planner uses a partial index only when a query states its predicate,
--   and it does not know the checks, so the reads that counted on the old
--   indexes state the new predicates: next to their `status` condition where
--   they still need it (the claim, the poll claim, expiry, time-out, the
--   ticket's place), instead of it where the index then answers alone
--   (enqueue's per-user count, and every read of completed or failed
--   requests, which stay index-only scans). The statistics count waiting and
--   running requests in one pass over the unfinished ones.
-- * The table leaves a fifth of each new page free, so that the claimed row
--   fits beside the waiting one.

alter table public.music_generation_queue set (fillfactor = 80);

drop index public.music_generation_queue_status_created_idx;

drop index public.music_generation_queue_claim_idx;
create index music_generation_queue_claim_idx
  on public.music_generation_queue (queue, priority, queued_at, id)
  where suno_task_id is null and completed_at is null and failed_at is null;

drop index public.music_generation_queue_poll_idx;
create index music_generation_queue_poll_idx
  on public.music_generation_queue (queue)
  where suno_task_id is not null and completed_at is null and failed_at is null;

drop index public.music_generation_queue_user_unfinished_idx;
create index music_generation_queue_user_unfinished_idx
  on public.music_generation_queue (user_id)
  where completed_at is null and failed_at is null;

drop index public.music_generation_queue_completed_idx;
create index music_generation_queue_completed_idx
  on public.music_generation_queue (queue, completed_at) include (submitted_at)
  where completed_at is not null;

drop index public.music_generation_queue_failed_idx;
create index music_generation_queue_failed_idx
  on public.music_generation_queue (queue, failed_at) include (error_code)
  where failed_at is not null;

-- The functions below are the latest versions with those predicates (the
-- claim keeps the settings of 20261130003000); nothing else in them changes
-- but the statistics' two counts, which become one pass.

-- ---------------------------------------------------------------------------
-- claim_music_requests (20261129000200, with the settings of 20261130003000)
-- ---------------------------------------------------------------------------
create or replace function public.claim_music_requests(
  p_worker_id text,
  p_limit integer default 5,
  p_lease_seconds integer default 120,
  p_queue text default 'default'
)
returns setof public.music_generation_queue
language plpgsql
volatile
security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_sort = off
set enable_hashjoin = off
set enable_mergejoin = off
as $$
declare
  v_now timestamptz := statement_timestamp();
begin
  perform public._music_check_lease_args(p_worker_id, p_lease_seconds);
  if p_limit is null or p_limit not between 1 and 1000 then
    perform public._music_bad_input('limit', 'limit must be from 1 to 1000');
  end if;

  return query
  with candidates as materialized (
    select q.id, q.status as previous_status, q.lease_owner as previous_owner,
           q.callback_wait_until is not null and q.ambiguous_submits = 1 as free_resubmit
      from public.music_generation_queue q
     where q.queue = p_queue
       -- pending, or processing with no task yet
       and q.suno_task_id is null and q.completed_at is null and q.failed_at is null
       and q.run_at <= v_now
       and (q.attempts < q.max_attempts or (q.callback_wait_until is not null and q.ambiguous_submits = 1))
       and not exists (select from public.music_queues mq where mq.name = p_queue and mq.paused)
       and not exists (select from public.suno_api_status s where s.paused_until > v_now)
     order by q.priority, q.queued_at, q.id
     limit p_limit
     for update of q skip locked
  ), claimed as (
    update public.music_generation_queue q
       set status = 'processing',
           attempts = q.attempts + case when c.free_resubmit then 0 else 1 end,
           callback_wait_until = null,
           lease_owner = p_worker_id,
           lease_token = gen_random_uuid(),
           lease_expires_at = v_now + make_interval(secs => p_lease_seconds),
           run_at = v_now + make_interval(secs => p_lease_seconds),
           started_at = coalesce(q.started_at, v_now),
           provider_status = null,
           updated_at = v_now
      from candidates c
     where q.id = c.id
    returning q.*
  ), logged as (
    insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, detail)
    select cl.id, cl.user_id, 'claimed', cl.status, cl.attempts, p_worker_id,
           jsonb_build_object('lease_expires_at', cl.lease_expires_at)
           || case when c.previous_status = 'processing'
                   then jsonb_build_object('reclaimed_from', c.previous_owner)
                   else '{}'::jsonb end
           || case when c.free_resubmit
                   then jsonb_build_object('resubmit_after_lost_answer', true)
                   else '{}'::jsonb end
      from claimed cl
      join candidates c on c.id = cl.id
  )
  select * from claimed;
end
$$;

-- ---------------------------------------------------------------------------
-- claim_music_polls (20261129000200)
-- ---------------------------------------------------------------------------
create or replace function public.claim_music_polls(
  p_worker_id text,
  p_limit integer default 10,
  p_interval_seconds integer default 20,
  p_queue text default 'default'
)
returns setof public.music_generation_queue
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  return query
    with due as materialized (
      select q.id
        from public.music_generation_queue q
       where q.queue = p_queue
         and q.status = 'processing'
         and q.suno_task_id is not null
         and q.completed_at is null and q.failed_at is null
         and q.run_at <= statement_timestamp()
       order by q.run_at, q.id
       limit greatest(p_limit, 0)
       for update of q skip locked
    )
    update public.music_generation_queue q
       set run_at = statement_timestamp() + make_interval(secs => greatest(p_interval_seconds, 1)),
           updated_at = statement_timestamp()
      from due
     where q.id = due.id
    returning q.*;
end
$$;

-- ---------------------------------------------------------------------------
-- expire_music_requests (20261129000200)
-- ---------------------------------------------------------------------------
create or replace function public.expire_music_requests(p_queue text default null)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  with target as materialized (
    select q.id, q.emotion, q.lease_owner
      from public.music_generation_queue q
     where (p_queue is null or q.queue = p_queue)
       and q.status = 'processing'
       and q.suno_task_id is null
       and q.completed_at is null and q.failed_at is null
       and q.run_at <= statement_timestamp()
       and q.attempts >= q.max_attempts
       -- a lost answer's free resubmit is still owed (claim_music_requests)
       and not (q.callback_wait_until is not null and q.ambiguous_submits = 1)
       for update skip locked
  ), pick as (
    select t.id, f.track_id, f.same_emotion
      from target t
     cross join lateral public._music_pick_fallback(t.emotion) f
  ), done as (
    update public.music_generation_queue q
       set status = 'failed',
           failed_at = statement_timestamp(),
           error_code = 'lease_expired',
           error_message = 'The worker holding this request stopped before submitting it and no attempt is left.',
           fallback_track_id = p.track_id,
           fallback_same_emotion = p.same_emotion,
           callback_wait_until = null,
           lease_owner = null,
           lease_token = null,
           lease_expires_at = null,
           updated_at = statement_timestamp()
      from target t
      left join pick p on p.id = t.id
     where q.id = t.id
    returning q.*
  ), logged as (
    insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, detail)
    select d.id, d.user_id, e.event, d.status, d.attempts, public._music_actor(), e.detail
      from done d
      join target t on t.id = d.id
     cross join lateral (values
       ('expired', jsonb_build_object('lease_owner', t.lease_owner, 'fallback_track_id', d.fallback_track_id)),
       ('fallback', jsonb_build_object('track_id', d.fallback_track_id,
                                       'same_emotion', d.fallback_same_emotion))
     ) e (event, detail)
     where e.event <> 'fallback' or d.fallback_track_id is not null
  )
  select count(*)::integer into v_count from done;
  return v_count;
end
$$;

-- ---------------------------------------------------------------------------
-- time_out_music_tasks (20261129000400)
-- ---------------------------------------------------------------------------
create or replace function public.time_out_music_tasks(p_queue text default null)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  with target as materialized (
    select q.id, q.emotion, q.lease_owner, q.submitted_at
      from public.music_generation_queue q
      join public.music_queues mq on mq.name = q.queue
     where (p_queue is null or q.queue = p_queue)
       and q.status = 'processing'
       and q.suno_task_id is not null
       and q.completed_at is null and q.failed_at is null
       and q.submitted_at < statement_timestamp() - make_interval(secs => mq.task_timeout_seconds)
       for update of q skip locked
  ), pick as (
    select t.id, f.track_id, f.same_emotion
      from target t
     cross join lateral public._music_pick_fallback(t.emotion) f
  ), done as (
    update public.music_generation_queue q
       set status = 'failed',
           failed_at = statement_timestamp(),
           error_code = 'task_timeout',
           error_message = 'The provider did not finish the task in time.',
           fallback_track_id = p.track_id,
           fallback_same_emotion = p.same_emotion,
           lease_owner = null,
           lease_token = null,
           lease_expires_at = null,
           updated_at = statement_timestamp()
      from target t
      left join pick p on p.id = t.id
     where q.id = t.id
    returning q.*
  ), logged as (
    insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, detail)
    select d.id, d.user_id, e.event, d.status, d.attempts, public._music_actor(), e.detail
      from done d
      join target t on t.id = d.id
     cross join lateral (values
       ('failed', jsonb_build_object('error_code', d.error_code, 'suno_task_id', d.suno_task_id,
                                     'submitted_at', t.submitted_at, 'lease_owner', t.lease_owner,
                                     'fallback_track_id', d.fallback_track_id)),
       ('fallback', jsonb_build_object('track_id', d.fallback_track_id,
                                       'same_emotion', d.fallback_same_emotion))
     ) e (event, detail)
     where e.event <> 'fallback' or d.fallback_track_id is not null
  )
  select count(*)::integer into v_count from done;
  return v_count;
end
$$;

-- ---------------------------------------------------------------------------
-- _music_ticket (20261129000200)
-- ---------------------------------------------------------------------------
create or replace function public._music_ticket(p_row public.music_generation_queue, p_deduplicated boolean)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
  return (
  with place as (
    select case when p_row.status = 'pending' then (
      select count(*) + 1
        from (select
                from public.music_generation_queue q
               where q.queue = p_row.queue
                 and q.status = 'pending'
                 and q.suno_task_id is null and q.completed_at is null and q.failed_at is null
                 and (q.priority, q.queued_at, q.id) < (p_row.priority, p_row.queued_at, p_row.id)
               limit 999) ahead
    ) end as n
  ), generation as (
    select coalesce(avg(extract(epoch from r.completed_at - r.submitted_at)), 150) as seconds
      from (select q.completed_at, q.submitted_at
              from public.music_generation_queue q
             where q.queue = p_row.queue and q.completed_at is not null
             order by q.completed_at desc
             limit 50) r
  )
  select (to_jsonb(p_row) - 'callback_token' - 'lease_token')
         || jsonb_build_object(
              'deduplicated', p_deduplicated,
              'queue_position', place.n,
              'queue_position_capped', coalesce(place.n >= 1000, false),
              'estimated_wait_seconds', case
                when p_row.status = 'pending' then ceil(
                  greatest(extract(epoch from p_row.run_at - statement_timestamp()), 0)
                  + ceil(place.n::numeric / mq.batch_size) * mq.run_interval_seconds
                  + generation.seconds)::integer
                when p_row.status = 'processing' then ceil(generation.seconds)::integer
                else 0
              end)
    from place, generation, public.music_queues mq
   where mq.name = p_row.queue);
end
$$;

-- ---------------------------------------------------------------------------
-- enqueue_music_request (20261130001100)
-- ---------------------------------------------------------------------------
create or replace function public.enqueue_music_request(
  p_emotion text,
  p_intensity double precision default 0.5,
  p_context text default null,
  p_idempotency_key text default null,
  p_instrumental boolean default true,
  p_prompt text default null,
  p_style text default null,
  p_title text default null,
  p_model text default null,
  p_user_id uuid default null,
  p_priority integer default null,
  p_queue text default null,
  p_run_at timestamptz default null,
  p_max_attempts integer default null,
  p_asked_style text default null,
  p_asked_title text default null
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_kind text := public._music_caller_kind();
  v_user uuid;
  v_queue public.music_queues;
  v_row public.music_generation_queue;
  v_found boolean := false;
  v_unfinished bigint;
begin
  if v_kind not in ('service', 'operator') then
    raise exception using errcode = '42501',
      message = 'only the service role enqueues music requests',
      hint = 'request music through the emotion-music-ai function';
  end if;
  v_user := coalesce(p_user_id, auth.uid());
  if v_user is null then
    perform public._music_bad_input('user_id', 'p_user_id is required when the service role enqueues');
  end if;
  if not exists (select from auth.users u where u.id = v_user) then
    raise exception using errcode = 'PT401',
      message = 'no such user: their account is gone, sign in again';
  end if;

  if p_emotion is null or p_emotion not in ('joy', 'calm', 'sad', 'anger', 'anxious', 'energetic', 'neutral') then
    perform public._music_bad_input('emotion',
      'emotion must be one of joy, calm, sad, anger, anxious, energetic, neutral');
  end if;
  if p_intensity is null or not (p_intensity >= 0 and p_intensity <= 1) then
    perform public._music_bad_input('intensity', 'intensity must be a number from 0 to 1');
  end if;
  if char_length(p_context) > 500 then
    perform public._music_bad_input('context', 'context must be at most 500 characters');
  end if;
  if p_idempotency_key is not null and char_length(p_idempotency_key) not between 1 and 255 then
    perform public._music_bad_input('idempotency_key', 'the idempotency key must be 1 to 255 characters');
  end if;
  if char_length(p_style) not between 1 and 1000 then
    perform public._music_bad_input('style', 'style must be 1 to 1000 characters');
  end if;
  if char_length(p_title) not between 1 and 100 then
    perform public._music_bad_input('title', 'title must be 1 to 100 characters');
  end if;
  if char_length(p_asked_style) not between 1 and 1000 then
    perform public._music_bad_input('asked_style', 'asked_style must be 1 to 1000 characters');
  end if;
  if char_length(p_asked_title) not between 1 and 100 then
    perform public._music_bad_input('asked_title', 'asked_title must be 1 to 100 characters');
  end if;
  if char_length(p_prompt) not between 1 and (case when p_style is null then 500 else 5000 end) then
    perform public._music_bad_input('prompt',
      'prompt must be 1 to 500 characters (5000 with a style)');
  end if;
  if p_model !~ '^V[0-9A-Z_]{1,15}$' then
    perform public._music_bad_input('model', 'model must look like V4_5');
  end if;
  if p_priority not between 0 and 9 then
    perform public._music_bad_input('priority', 'priority must be from 0 to 9');
  end if;
  if p_max_attempts not between 1 and 10 then
    perform public._music_bad_input('max_attempts', 'max_attempts must be from 1 to 10');
  end if;

  select * into v_queue from public.music_queues where name = coalesce(p_queue, 'default');
  if not found then
    perform public._music_bad_input('queue', format('unknown queue %L', p_queue));
  end if;

  -- One enqueue at a time per user (class 7301 = this queue's lock space).
  perform pg_advisory_xact_lock(7301, hashtext(v_user::text));

  if p_idempotency_key is not null then
    select * into v_row
      from public.music_generation_queue q
     where q.user_id = v_user and q.idempotency_key = p_idempotency_key;
    v_found := found;
  end if;

  if not v_found then
    select count(*) into v_unfinished
      from public.music_generation_queue q
     where q.user_id = v_user and q.completed_at is null and q.failed_at is null;
    if v_unfinished >= v_queue.max_pending_per_user then
      raise exception using
        errcode = 'PT429',
        message = format('too many unfinished music requests (limit %s): wait for one to finish',
                         v_queue.max_pending_per_user),
        detail = format('unfinished: %s', v_unfinished),
        hint = 'retry later';
    end if;

    with inserted as (
      insert into public.music_generation_queue (
        user_id, queue, emotion, intensity, context, asked_style, asked_title,
        prompt, style, title, instrumental, model,
        priority, max_attempts, run_at, queued_at, idempotency_key, created_at, updated_at)
      values (
        v_user, v_queue.name, p_emotion, p_intensity, p_context,
        -- What the user asked, as the service role states it; style and title
        -- below are what the provider is sent.
        p_asked_style, p_asked_title,
        coalesce(p_prompt, left(format('%s %s music, intensity %s of 10%s',
          case when coalesce(p_instrumental, true) then 'instrumental' else 'vocal' end, p_emotion,
          round(p_intensity * 10), coalesce(', ' || p_context, '')), 500)),
        p_style, p_title, coalesce(p_instrumental, true), p_model,
        coalesce(p_priority, 5), coalesce(p_max_attempts, v_queue.max_attempts),
        coalesce(p_run_at, statement_timestamp()), coalesce(p_run_at, statement_timestamp()),
        p_idempotency_key,
        statement_timestamp(), statement_timestamp())
      returning *
    ), logged as (
      insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, actor_user_id, detail)
      select i.id, i.user_id, 'enqueued', i.status, 0, public._music_actor(), auth.uid(),
             jsonb_build_object('queue', i.queue, 'emotion', i.emotion, 'priority', i.priority)
        from inserted i
    )
    select * into v_row from inserted;
  end if;

  return public._music_ticket(v_row, v_found);
end
$$;

-- ---------------------------------------------------------------------------
-- music_queue_stats (20261129000400)
-- ---------------------------------------------------------------------------
create or replace function public.music_queue_stats(p_queue text default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := now();
  v_since timestamptz := now() - interval '24 hours';
  v_queues text[];
  v_horizon timestamptz;
  v_pending bigint;
  v_processing bigint;
  v_live record;
  v_day record;
  v_rolled record;
  v_hours jsonb;
  v_median double precision;
  v_spike_hours integer;
  v_rate double precision;
  v_reasons jsonb := '[]';
  v_paused boolean;
begin
  perform public._music_require_admin();

  select coalesce(array_agg(name), '{}'), bool_or(paused)
    into v_queues, v_paused
    from public.music_queues
   where p_queue is null or name = p_queue;
  select horizon into v_horizon from public.music_queue_stats_horizon;

  -- Both in one pass over the unfinished requests: no index tells a waiting
  -- request from a running one without reading the row.
  select count(*) filter (where q.status = 'pending'),
         count(*) filter (where q.status = 'processing')
    into v_pending, v_processing
    from public.music_generation_queue q
   where q.queue = any (v_queues) and q.completed_at is null and q.failed_at is null;

  -- Finished since the horizon (the live part of the all-time totals) and
  -- in the last 24 h, which may reach back past the horizon: one range scan
  -- from the earlier of the two.
  select count(*) filter (where c.completed_at >= v_horizon) as completed,
         count(*) filter (where c.completed_at > v_since) as completed_24h,
         sum(extract(epoch from c.completed_at - c.submitted_at)) filter (where c.completed_at >= v_horizon) as seconds,
         count(c.submitted_at) filter (where c.completed_at >= v_horizon) as timed,
         sum(extract(epoch from c.completed_at - c.submitted_at)) filter (where c.completed_at > v_since) as seconds_24h,
         count(c.submitted_at) filter (where c.completed_at > v_since) as timed_24h,
         sum(extract(epoch from c.completed_at - c.created_at)) filter (where c.completed_at >= v_horizon) as total_seconds,
         sum(extract(epoch from c.completed_at - c.created_at)) filter (where c.completed_at > v_since) as total_seconds_24h
    into v_live
    from public.music_generation_queue c
   where c.queue = any (v_queues) and c.completed_at is not null
     and c.completed_at >= least(v_horizon, v_since);

  select count(*) filter (where f.failed_at >= v_horizon and not f.cancelled) as failed,
         count(*) filter (where f.failed_at > v_since and not f.cancelled) as failed_24h,
         count(*) filter (where f.failed_at >= v_horizon and f.cancelled) as cancelled,
         count(*) filter (where f.failed_at > v_since and f.cancelled) as cancelled_24h
    into v_day
    from (select q.failed_at, coalesce(q.error_code = 'cancelled', false) as cancelled
            from public.music_generation_queue q
           where q.queue = any (v_queues) and q.failed_at is not null
             and q.failed_at >= least(v_horizon, v_since)) f;

  select coalesce(sum(completed), 0) as completed, coalesce(sum(failed), 0) as failed,
         coalesce(sum(cancelled), 0) as cancelled,
         coalesce(sum(processing_seconds_sum), 0) as seconds, coalesce(sum(processing_count), 0) as timed,
         coalesce(sum(total_seconds_sum), 0) as total_seconds
    into v_rolled
    from public.music_queue_daily_totals
   where queue = any (v_queues);

  -- Failures per rolling hour: bucket h holds (now - h - 1 hours, now - h hours].
  with failures as (
    select f.failed_at
      from public.music_generation_queue f
     where f.queue = any (v_queues) and f.failed_at is not null and f.failed_at > v_since
       and f.error_code is distinct from 'cancelled'
  ), hours as (
    select h.n as hours_ago, count(f.failed_at) as failed
      from generate_series(0, 23) as h(n)
      left join failures f
        on f.failed_at > v_now - make_interval(hours => h.n + 1)
       and f.failed_at <= v_now - make_interval(hours => h.n)
     group by h.n
  ), median as (
    select percentile_cont(0.5) within group (order by failed) as m from hours
  )
  select jsonb_agg(jsonb_build_object(
           'hours_ago', hours.hours_ago,
           'hour_start', v_now - make_interval(hours => hours.hours_ago + 1),
           'hour_end', v_now - make_interval(hours => hours.hours_ago),
           'failed', hours.failed,
           'spike', hours.failed >= 3 and hours.failed > 2 * median.m)
         order by hours.hours_ago desc),
         max(median.m),
         count(*) filter (where hours.failed >= 3 and hours.failed > 2 * median.m)
    into v_hours, v_median, v_spike_hours
    from hours, median;

  v_rate := case when v_live.completed_24h + v_day.failed_24h > 0
                 then v_day.failed_24h::double precision / (v_live.completed_24h + v_day.failed_24h) end;
  if v_spike_hours > 0 then
    v_reasons := v_reasons || jsonb_build_array(format('%s hour(s) with more than twice the median failures', v_spike_hours));
  end if;
  if v_rate > 0.2 and v_live.completed_24h + v_day.failed_24h >= 5 then
    v_reasons := v_reasons || jsonb_build_array(format('%s%% of requests failed in the last 24 h', round((v_rate * 100)::numeric, 1)));
  end if;

  return jsonb_build_object(
    'queue', p_queue,
    'paused', coalesce(v_paused, false),
    'generated_at', v_now,
    'counts', jsonb_build_object(
      'pending', v_pending,
      'processing', v_processing,
      'completed', v_live.completed + v_rolled.completed,
      'failed', v_day.failed + v_rolled.failed,
      'cancelled', v_day.cancelled + v_rolled.cancelled,
      'total', v_pending + v_processing + v_live.completed + v_rolled.completed + v_day.failed + v_rolled.failed
               + v_day.cancelled + v_rolled.cancelled),
    'last_24h', jsonb_build_object(
      'completed', v_live.completed_24h,
      'failed', v_day.failed_24h,
      'cancelled', v_day.cancelled_24h,
      'success_rate', case when v_live.completed_24h + v_day.failed_24h > 0
                           then v_live.completed_24h::double precision / (v_live.completed_24h + v_day.failed_24h) end,
      'mean_seconds_created_to_completed', case when v_live.completed_24h > 0
                                                then v_live.total_seconds_24h / v_live.completed_24h end,
      'mean_seconds_submitted_to_completed', case when v_live.timed_24h > 0
                                                  then v_live.seconds_24h / v_live.timed_24h end),
    'all_time', jsonb_build_object(
      'completed', v_live.completed + v_rolled.completed,
      'failed', v_day.failed + v_rolled.failed,
      'cancelled', v_day.cancelled + v_rolled.cancelled,
      'success_rate', case when v_live.completed + v_rolled.completed + v_day.failed + v_rolled.failed > 0
                           then (v_live.completed + v_rolled.completed)::double precision
                                / (v_live.completed + v_rolled.completed + v_day.failed + v_rolled.failed) end,
      'mean_seconds_created_to_completed', case when v_live.completed + v_rolled.completed > 0
                                                then (coalesce(v_live.total_seconds, 0) + v_rolled.total_seconds)
                                                     / (v_live.completed + v_rolled.completed) end,
      'mean_seconds_submitted_to_completed', case when v_live.timed + v_rolled.timed > 0
                                                  then (coalesce(v_live.seconds, 0) + v_rolled.seconds)
                                                       / (v_live.timed + v_rolled.timed) end),
    'failures_per_hour', v_hours,
    'spike', jsonb_build_object(
      'detected', jsonb_array_length(v_reasons) > 0,
      'median_failures_per_hour', v_median,
      'spike_hours', v_spike_hours,
      'failure_rate_24h', v_rate,
      'reasons', v_reasons));
end
$$;

-- ---------------------------------------------------------------------------
-- rollup_music_queue_stats (20261129000400)
-- ---------------------------------------------------------------------------
create or replace function public.rollup_music_queue_stats()
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_old timestamptz;
  v_new timestamptz;
  v_rows integer;
begin
  perform public._music_require_admin();
  select horizon into v_old from public.music_queue_stats_horizon for update;
  v_new := date_trunc('day', (now() - interval '1 hour') at time zone 'UTC') at time zone 'UTC';
  if v_new <= v_old then
    return 0;
  end if;

  insert into public.music_queue_daily_totals as d
    (queue, day, completed, failed, cancelled, processing_seconds_sum, processing_count, total_seconds_sum)
  select f.queue, f.day, sum(f.completed), sum(f.failed), sum(f.cancelled), sum(f.seconds), sum(f.timed),
         sum(f.total_seconds)
    from public.music_queues mq
   cross join lateral (
     select q.queue, (q.completed_at at time zone 'UTC')::date as day, 1 as completed, 0 as failed,
            0 as cancelled,
            coalesce(extract(epoch from q.completed_at - q.submitted_at), 0) as seconds,
            (q.submitted_at is not null)::integer as timed,
            extract(epoch from q.completed_at - q.created_at) as total_seconds
       from public.music_generation_queue q
      where q.queue = mq.name and q.completed_at is not null
        and q.completed_at >= v_old and q.completed_at < v_new
     union all
     select q.queue, (q.failed_at at time zone 'UTC')::date, 0,
            (q.error_code is distinct from 'cancelled')::integer, (q.error_code = 'cancelled')::integer,
            0, 0, 0
       from public.music_generation_queue q
      where q.queue = mq.name and q.failed_at is not null
        and q.failed_at >= v_old and q.failed_at < v_new
   ) f
   group by f.queue, f.day
  on conflict (queue, day) do update
     set completed = d.completed + excluded.completed,
         failed = d.failed + excluded.failed,
         cancelled = d.cancelled + excluded.cancelled,
         processing_seconds_sum = d.processing_seconds_sum + excluded.processing_seconds_sum,
         processing_count = d.processing_count + excluded.processing_count,
         total_seconds_sum = d.total_seconds_sum + excluded.total_seconds_sum;
  get diagnostics v_rows = row_count;

  -- The WHERE names the single row: hosted API sessions refuse an UPDATE
  -- without one (safeupdate), and this runs through /rest/v1/rpc.
  update public.music_queue_stats_horizon set horizon = v_new, updated_at = now() where id;
  return v_rows;
end
$$;

-- ---------------------------------------------------------------------------
-- music_queue_timeseries (20261129000400)
-- ---------------------------------------------------------------------------
create or replace function public.music_queue_timeseries(p_hours integer default 24, p_queue text default null)
returns table (
  bucket_start timestamptz,
  enqueued bigint,
  completed bigint,
  failed bigint,
  cancelled bigint,
  mean_processing_seconds double precision,
  checks bigint,
  check_failures bigint,
  mean_response_ms double precision
)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_queues text[];
  v_first timestamptz := date_trunc('hour', now()) - make_interval(hours => least(greatest(p_hours, 1), 24 * 31) - 1);
begin
  perform public._music_require_admin();
  select coalesce(array_agg(name), '{}') into v_queues
    from public.music_queues where p_queue is null or name = p_queue;

  return query
  with buckets as (
    select b as s, b + interval '1 hour' as e
      from generate_series(v_first, date_trunc('hour', now()), interval '1 hour') b
  )
  select bk.s,
         (select count(*) from public.music_generation_queue q
           where q.created_at >= bk.s and q.created_at < bk.e and q.queue = any (v_queues)),
         (select count(*) from public.music_generation_queue q
           where q.queue = any (v_queues) and q.completed_at is not null
             and q.completed_at >= bk.s and q.completed_at < bk.e),
         (select count(*) from public.music_generation_queue q
           where q.queue = any (v_queues) and q.failed_at is not null
             and q.failed_at >= bk.s and q.failed_at < bk.e
             and q.error_code is distinct from 'cancelled'),
         (select count(*) from public.music_generation_queue q
           where q.queue = any (v_queues) and q.failed_at is not null
             and q.failed_at >= bk.s and q.failed_at < bk.e
             and q.error_code = 'cancelled'),
         (select avg(extract(epoch from q.completed_at - q.submitted_at))::double precision
            from public.music_generation_queue q
           where q.queue = any (v_queues) and q.completed_at is not null
             and q.completed_at >= bk.s and q.completed_at < bk.e),
         c.n, c.failures, c.response
    from buckets bk
   cross join lateral (
     select count(*) as n,
            count(*) filter (where not ch.is_available) as failures,
            avg(ch.response_time_ms)::double precision as response
       from public.suno_api_status_checks ch
      where ch.checked_at >= bk.s and ch.checked_at < bk.e
   ) c
   order by bk.s;
end
$$;

-- ---------------------------------------------------------------------------
-- record_music_alert_if_due (20261130000200)
-- ---------------------------------------------------------------------------
create or replace function public.record_music_alert_if_due(p_queue text default 'default')
returns setof public.music_alerts
language sql
volatile
security definer
set search_path = ''
as $$
  with hour as (
    select (select count(*)
              from public.music_generation_queue q
             where q.queue = p_queue and q.completed_at is not null
               and q.completed_at > now() - interval '1 hour') as completed,
           (select count(*)
              from public.music_generation_queue q
             where q.queue = p_queue and q.failed_at is not null
               and q.failed_at > now() - interval '1 hour'
               and q.error_code is distinct from 'cancelled') as failed
  ),
  due as (
    select h.completed, h.failed, h.completed + h.failed as finished,
           round(h.failed::numeric / (h.completed + h.failed), 4) as failure_rate
      from hour h
     where h.completed + h.failed >= 5
       and h.failed::numeric / nullif(h.completed + h.failed, 0) > 0.2
  )
  insert into public.music_alerts (kind, queue, message, figures, created_at, quiet_until)
  select 'failure_rate', p_queue,
         format('%s of the %s requests finished in the last hour failed (%s %%)',
                d.failed, d.finished, round(d.failure_rate * 100, 1)),
         jsonb_build_object('window_minutes', 60, 'finished', d.finished, 'completed', d.completed,
                            'failed', d.failed, 'failure_rate', d.failure_rate, 'threshold', 0.2,
                            'min_finished', 5),
         clock_timestamp(), clock_timestamp() + interval '1 hour'
    from due d
  on conflict do nothing
  returning *
$$;
