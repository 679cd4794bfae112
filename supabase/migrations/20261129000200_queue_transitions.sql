-- Music generation queue: the request life cycle as SQL functions.
--
-- Each transition is one function and, where it can be, one statement: the
-- row update, the history event and any side rows (tracks) are written by
-- the same statement, so they commit or vanish together.
--
-- Guards. Every worker transition names the request and the lease token the
-- claim handed out, and only touches a row that is still `processing` under
-- that token. A late, duplicate or stale writer (its lease expired and the
-- row was claimed again, an admin cancelled it, another writer finished it)
-- updates 0 rows. The functions return `setof music_generation_queue`: the
-- changed row, or nothing when nothing changed, so the caller can tell.
--
-- Time. Transitions use statement_timestamp(): fixed within one transition,
-- yet advancing between the statements of a longer transaction (now() would
-- stay at the transaction's start).
--
-- Language. PL/pgSQL even where the body is one statement: it keeps each
-- statement's plan across calls, where Postgres 15 plans a SQL-language
-- function's body again at every call (a claim then costs twice as much).
--
-- Callers. Worker transitions and enqueue_music_request are granted to the
-- service role only (grants in 20261129000500_queue_rls_grants.sql).

-- ---------------------------------------------------------------------------
-- Helpers (not exposed to API roles).
-- ---------------------------------------------------------------------------

-- Who is calling, from the role PostgREST set and the JWT claims:
-- 'service' (service role), 'admin' (app_metadata.role admin or manager),
-- 'user', 'anon', or 'operator' (a direct database session that took no API
-- role: SQL editor, pg_cron, migrations). user_metadata is never read.
-- No SET clause, so the planner can inline it (every name is qualified).
create function public._music_caller_kind()
returns text
language sql
stable
as $$
  select case current_setting('role', true)
    when 'service_role' then 'service'
    when 'authenticated' then
      case when coalesce(auth.jwt() -> 'app_metadata' ->> 'role', '') in ('admin', 'manager')
           then 'admin' else 'user' end
    when 'anon' then 'anon'
    else case when auth.jwt() is null and session_user <> 'authenticator'
              then 'operator' else 'anon' end
  end
$$;

-- How events name the caller: 'service_role', 'user:<uuid>' or 'db:<role>'.
create function public._music_actor()
returns text
language sql
stable
as $$
  select case public._music_caller_kind()
    when 'service' then 'service_role'
    when 'operator' then 'db:' || session_user
    else 'user:' || coalesce(auth.uid()::text, 'anonymous')
  end
$$;

-- Raises insufficient_privilege (PostgREST: 403) unless the caller is an
-- admin, the service role or an operator.
create function public._music_require_admin()
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if public._music_caller_kind() not in ('service', 'admin', 'operator') then
    raise exception using
      errcode = '42501',
      message = 'only an administrator may do this',
      hint = 'app_metadata.role must be admin or manager';
  end if;
end
$$;

-- Raises invalid_parameter_value (PostgREST: 400) naming the field.
create function public._music_bad_input(p_field text, p_message text)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  raise exception using errcode = '22023', message = p_message, detail = 'field: ' || p_field;
end
$$;

-- The arguments every claim takes: who holds the lease, and for how long.
create function public._music_check_lease_args(p_worker_id text, p_lease_seconds integer)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if char_length(p_worker_id) not between 1 and 200 or p_worker_id is null then
    perform public._music_bad_input('worker_id', 'worker id must be 1 to 200 characters');
  end if;
  if p_lease_seconds is null or p_lease_seconds not between 1 and 3600 then
    perform public._music_bad_input('lease_seconds', 'lease must be from 1 to 3600 seconds');
  end if;
end
$$;

-- A fallback track: a random fallback-eligible track of the emotion if there
-- is one, else of any emotion, else nothing. Usable: durable, or still
-- valid for a week (a link the user can keep). The random pivot is a
-- variable, so each probe is an Index Cond on a fallback index (id >= pivot)
-- and stops at its first usable row however large the library grows; a
-- shared CTE would be materialized by a scan of the whole library.
create function public._music_pick_fallback(p_emotion text)
returns table (track_id uuid, same_emotion boolean)
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_pivot uuid := gen_random_uuid();
  v_usable_after timestamptz := statement_timestamp() + interval '7 days';
begin
  return query
  select u.id, u.emotion = p_emotion
    from (
      (select t.id, t.emotion from public.music_tracks t
        where t.fallback_eligible and t.emotion = p_emotion and t.id >= v_pivot
          and (t.expires_at is null or t.expires_at > v_usable_after)
        order by t.id limit 1)
      union all
      (select t.id, t.emotion from public.music_tracks t
        where t.fallback_eligible and t.emotion = p_emotion
          and (t.expires_at is null or t.expires_at > v_usable_after)
        order by t.id limit 1)
      union all
      (select t.id, t.emotion from public.music_tracks t
        where t.fallback_eligible and t.id >= v_pivot
          and (t.expires_at is null or t.expires_at > v_usable_after)
        order by t.id limit 1)
      union all
      (select t.id, t.emotion from public.music_tracks t
        where t.fallback_eligible
          and (t.expires_at is null or t.expires_at > v_usable_after)
        order by t.id limit 1)
    ) u
   limit 1;
end
$$;

-- What enqueue answers: the request (without its secrets), whether it was an
-- existing one, its place among the waiting requests of its queue and a
-- rough wait: the runs needed to reach it plus the recent mean generation
-- time (150 s when there is no history yet).
--
-- The place is counted up to 1000 only: counting a whole backlog costs one
-- index entry and heap visit per waiting row (about 0.4 s at 200k), on the
-- user's path and exactly when an outage grows the backlog. Past the bound
-- the answer is queue_position = 1000 with queue_position_capped = true
-- (shown as "1000+"), and the wait estimate is a lower bound.
create function public._music_ticket(p_row public.music_generation_queue, p_deduplicated boolean)
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
                 and (q.priority, q.queued_at, q.id) < (p_row.priority, p_row.queued_at, p_row.id)
               limit 999) ahead
    ) end as n
  ), generation as (
    select coalesce(avg(extract(epoch from r.completed_at - r.submitted_at)), 150) as seconds
      from (select q.completed_at, q.submitted_at
              from public.music_generation_queue q
             where q.queue = p_row.queue and q.status = 'completed'
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
-- enqueue: a new request, or the existing one for the same idempotency key.
--
-- Only the service role (emotion-music-ai, on a signed-in user's behalf,
-- naming p_user_id) or an operator enqueues. A user's own JWT is refused
-- (42501): the provider fields (prompt, style, title, model) cost money and
-- are built and validated by emotion-music-ai, which also decides whether
-- to submit at once; a direct call would skip all of that. A user's
-- enqueues are serialized by a transaction advisory lock so that the
-- idempotency lookup and the unfinished-request limit see each other's
-- inserts. Over the limit: SQLSTATE PT429 (PostgREST answers 429).
-- p_prompt, p_style, p_title and p_model are the provider request as it
-- will be sent; p_asked_style and p_asked_title the user's own words, which
-- decide whether the finished tracks may serve other users as fallbacks.
-- ---------------------------------------------------------------------------
create function public.enqueue_music_request(
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
     where q.user_id = v_user and q.status in ('pending', 'processing');
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
-- claim: up to p_limit claimable rows of a queue, to one worker.
--
-- One statement: a CTE picks the rows in priority, run_at order with
-- FOR UPDATE SKIP LOCKED (the CTE is the fence that keeps the LIMIT exact),
-- the UPDATE moves them to processing, counts the attempt and sets a new
-- lease, and an insert logs the claims. Claimable: pending rows whose run_at
-- has come, and claimed rows never submitted whose lease (run_at) expired,
-- while they have attempts left (expire_music_requests fails the others).
-- The exception is a row whose submit answer was lost: after its first wait
-- for a callback it is taken back once without counting an attempt (the
-- lost answer was the provider's fault, not the request's).
-- Order: priority, then place in line (queued_at), which deferrals keep.
-- Nothing is claimed while the queue is paused by an admin, nor while the
-- provider is paused (suno_api_status.paused_until: circuit open, cool-down,
-- bad key...): the gate is in the same statement, so no caller has to read
-- the status first. Two callers never get the same row: a row
-- locked by one is skipped by the other, and a row claimed and committed in
-- between fails the re-check of the WHERE clause.
-- ---------------------------------------------------------------------------
create function public.claim_music_requests(
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
       and (q.status = 'pending' or (q.status = 'processing' and q.suno_task_id is null))
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
-- claim one: the given pending request, if it is due and neither its queue
-- nor the provider is paused (emotion-music-ai submits at once when nothing
-- is waiting). Same lease and guards as claim_music_requests; a locked row
-- is skipped.
-- ---------------------------------------------------------------------------
create function public.claim_music_request(
  p_request_id uuid,
  p_worker_id text,
  p_lease_seconds integer default 120
)
returns setof public.music_generation_queue
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := statement_timestamp();
begin
  perform public._music_check_lease_args(p_worker_id, p_lease_seconds);

  return query
  with candidates as materialized (
    select q.id
      from public.music_generation_queue q
     where q.id = p_request_id
       and q.status = 'pending'
       and q.run_at <= v_now
       and not exists (select from public.music_queues mq where mq.name = q.queue and mq.paused)
       and not exists (select from public.suno_api_status s where s.paused_until > v_now)
       for update of q skip locked
  ), claimed as (
    update public.music_generation_queue q
       set status = 'processing',
           attempts = q.attempts + 1,
           lease_owner = p_worker_id,
           lease_token = gen_random_uuid(),
           lease_expires_at = v_now + make_interval(secs => p_lease_seconds),
           run_at = v_now + make_interval(secs => p_lease_seconds),
           started_at = coalesce(q.started_at, v_now),
           updated_at = v_now
      from candidates c
     where q.id = c.id
    returning q.*
  ), logged as (
    insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, detail)
    select cl.id, cl.user_id, 'claimed', cl.status, cl.attempts, p_worker_id,
           jsonb_build_object('lease_expires_at', cl.lease_expires_at, 'direct', true)
      from claimed cl
  )
  select * from claimed;
end
$$;

-- ---------------------------------------------------------------------------
-- polls: up to p_limit submitted requests due for a provider poll, each
-- handed to one caller and not due again for p_interval_seconds. The lease
-- token does not change: whoever polls finishes with it. Pausing the queue
-- does not stop polls (those tasks are already paid for).
-- ---------------------------------------------------------------------------
create function public.claim_music_polls(
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
-- submitted: the provider accepted the request and gave a task id. Guard:
-- still processing under this lease and not yet submitted (a duplicate call
-- changes nothing). From here a claim never takes the row back (that would
-- pay for it twice); run_at becomes the first poll time. A missing or blank
-- task id is refused (22023): recorded, it would leave the row claimable and
-- the request would be submitted, and paid, again.
-- ---------------------------------------------------------------------------
create function public.mark_music_request_submitted(
  p_request_id uuid,
  p_lease_token uuid,
  p_suno_task_id text,
  p_model text default null,
  p_poll_after_seconds integer default 30
)
returns setof public.music_generation_queue
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if p_suno_task_id is null or btrim(p_suno_task_id) = '' then
    perform public._music_bad_input('suno_task_id', 'the provider task id is required');
  end if;

  return query
    with done as (
      update public.music_generation_queue q
         set suno_task_id = p_suno_task_id,
             model = coalesce(p_model, q.model),
             submitted_at = statement_timestamp(),
             provider_status = 'PENDING',
             callback_wait_until = null,
             poll_rereads = 0,
             run_at = statement_timestamp() + make_interval(secs => greatest(p_poll_after_seconds, 1)),
             updated_at = statement_timestamp()
       where q.id = p_request_id
         and q.status = 'processing'
         and q.lease_token = p_lease_token
         and q.suno_task_id is null
      returning q.*
    ), logged as (
      insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, detail)
      select d.id, d.user_id, 'submitted', d.status, d.attempts, d.lease_owner,
             jsonb_build_object('suno_task_id', d.suno_task_id, 'model', d.model)
        from done d
    )
    select * from done;
end
$$;

-- ---------------------------------------------------------------------------
-- progress: the provider reported a new stage (TEXT_SUCCESS, FIRST_SUCCESS,
-- ...). Guard: processing under this lease, and a stage different from the
-- one stored, so a callback delivered twice logs one event.
-- ---------------------------------------------------------------------------
create function public.record_music_request_progress(
  p_request_id uuid,
  p_lease_token uuid,
  p_provider_status text,
  p_detail jsonb default '{}'
)
returns setof public.music_generation_queue
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  return query
    with done as (
      update public.music_generation_queue q
         set provider_status = left(p_provider_status, 64),
             updated_at = statement_timestamp()
       where q.id = p_request_id
         and q.status = 'processing'
         and q.lease_token = p_lease_token
         and q.provider_status is distinct from left(p_provider_status, 64)
      returning q.*
    ), logged as (
      insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, detail)
      select d.id, d.user_id, 'progress', d.status, d.attempts, d.lease_owner,
             jsonb_build_object('provider_status', d.provider_status)
             || case when jsonb_typeof(p_detail) = 'object' then p_detail
                     when p_detail is null then '{}'::jsonb
                     else jsonb_build_object('data', p_detail) end
        from done d
    )
    select * from done;
end
$$;

-- ---------------------------------------------------------------------------
-- complete: the generation succeeded. p_result is {"clips": [clip, ...]},
-- each clip {id, title, audio_url, stream_audio_url, image_url, duration,
-- tags, model_name}. Stores the result, adds each clip to music_tracks and
-- logs the event, in one statement. A clip may later serve as another
-- user's fallback only when it carries nothing of its requester's words:
-- instrumental, and asked for without context, style or title (the asked_
-- columns: the style and title we sent are our own). Odd provider values
-- never fail the completion: an optional field that does not fit the
-- library (an over-long URL or clip id, a duration outside 0..3600 s) is
-- stored as null, and a clip whose audio URL does not fit stays in the
-- result but not in the library. Guard: processing under this lease, so a
-- cancelled, reclaimed or already finished request is left as it is.
-- ---------------------------------------------------------------------------
create function public.complete_music_request(
  p_request_id uuid,
  p_lease_token uuid,
  p_result jsonb
)
returns setof public.music_generation_queue
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if jsonb_typeof(p_result -> 'clips') is distinct from 'array'
     or jsonb_array_length(p_result -> 'clips') = 0
     or exists (select from jsonb_array_elements(p_result -> 'clips') c
                 where coalesce(c ->> 'audio_url', '') !~ '^https?://') then
    perform public._music_bad_input('result',
      'result must be {"clips": [...]} with at least one clip, each with an http(s) audio_url');
  end if;

  return query
  with target as materialized (
    select q.id, q.lease_owner
      from public.music_generation_queue q
     where q.id = p_request_id
       and q.status = 'processing'
       and q.lease_token = p_lease_token
       for update
  ), done as (
    update public.music_generation_queue q
       set status = 'completed',
           result = p_result,
           completed_at = statement_timestamp(),
           provider_status = 'SUCCESS',
           callback_wait_until = null,
           lease_owner = null,
           lease_token = null,
           lease_expires_at = null,
           error_code = null,
           error_message = null,
           updated_at = statement_timestamp()
      from target t
     where q.id = t.id
    returning q.*
  ), tracks as (
    insert into public.music_tracks (
      emotion, title, audio_url, stream_audio_url, image_url, duration_seconds, tags,
      source, fallback_eligible, request_id, user_id, provider_clip_id, expires_at)
    select d.emotion, left(c ->> 'title', 200), c ->> 'audio_url',
           case when char_length(c ->> 'stream_audio_url') <= 2000 then c ->> 'stream_audio_url' end,
           case when char_length(c ->> 'image_url') <= 2000 then c ->> 'image_url' end,
           case when jsonb_typeof(c -> 'duration') = 'number' then
             case when (c ->> 'duration')::numeric >= 0 and (c ->> 'duration')::numeric < 3600
                  then (c ->> 'duration')::double precision end
           end,
           left(c ->> 'tags', 1000), 'generated',
           d.instrumental and d.context is null and d.asked_style is null and d.asked_title is null,
           d.id, d.user_id,
           case when char_length(c ->> 'id') <= 128 then c ->> 'id' end,
           statement_timestamp() + interval '15 days'
      from done d
     cross join jsonb_array_elements(p_result -> 'clips') c
     where char_length(c ->> 'audio_url') <= 2000
        on conflict (provider_clip_id) where provider_clip_id is not null do nothing
    returning id
  ), logged as (
    insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, detail)
    select d.id, d.user_id, 'completed', d.status, d.attempts, t.lease_owner,
           jsonb_build_object(
             'suno_task_id', d.suno_task_id,
             'clips', jsonb_array_length(p_result -> 'clips'),
             'track_ids', (select coalesce(jsonb_agg(tr.id), '[]'::jsonb) from tracks tr))
      from done d
      join target t on t.id = d.id
  )
  select * from done;
end
$$;

-- ---------------------------------------------------------------------------
-- retry: this attempt failed in a way worth retrying (transport error, 5xx,
-- failed generation). The attempt the claim counted stays used. With
-- attempts left the request waits p_delay_seconds (the caller's backoff)
-- and forgets its task; with none left it fails here, with a fallback track.
-- Guard: processing under this lease.
-- ---------------------------------------------------------------------------
create function public.retry_music_request(
  p_request_id uuid,
  p_lease_token uuid,
  p_delay_seconds integer,
  p_error_code text,
  p_error_message text default null
)
returns setof public.music_generation_queue
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  return query
    with target as materialized (
      select q.id, q.emotion, q.lease_owner, q.suno_task_id, q.attempts >= q.max_attempts as exhausted
        from public.music_generation_queue q
       where q.id = p_request_id
         and q.status = 'processing'
         and q.lease_token = p_lease_token
         for update
    ), pick as (
      select t.id, f.track_id, f.same_emotion
        from target t
       cross join lateral public._music_pick_fallback(t.emotion) f
       where t.exhausted
    ), done as (
      update public.music_generation_queue q
         set status = case when t.exhausted then 'failed' else 'pending' end,
             run_at = case when t.exhausted then q.run_at
                           else statement_timestamp() + make_interval(secs => greatest(coalesce(p_delay_seconds, 0), 0)) end,
             suno_task_id = case when t.exhausted then q.suno_task_id end,
             submitted_at = case when t.exhausted then q.submitted_at end,
             provider_status = case when t.exhausted then q.provider_status end,
             poll_rereads = case when t.exhausted then q.poll_rereads else 0 end,
             callback_wait_until = null,
             failed_at = case when t.exhausted then statement_timestamp() end,
             fallback_track_id = p.track_id,
             fallback_same_emotion = p.same_emotion,
             error_code = left(coalesce(p_error_code, 'error'), 64),
             error_message = left(p_error_message, 2000),
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
      select d.id, d.user_id, e.event, d.status, d.attempts, t.lease_owner, e.detail
        from done d
        join target t on t.id = d.id
       cross join lateral (values
         (case when d.status = 'failed' then 'failed' else 'retried' end,
          jsonb_build_object('error_code', d.error_code, 'error_message', d.error_message,
                             'delay_seconds', p_delay_seconds, 'suno_task_id', t.suno_task_id,
                             'fallback_track_id', d.fallback_track_id)),
         ('fallback',
          jsonb_build_object('track_id', d.fallback_track_id, 'same_emotion', d.fallback_same_emotion))
       ) e (event, detail)
       where e.event <> 'fallback' or d.fallback_track_id is not null
    )
    select * from done;
end
$$;

-- ---------------------------------------------------------------------------
-- defer: the provider could not take the request now (rate limit, circuit
-- open) and it was not sent. Back to pending at a later run_at, and the
-- attempt the claim counted is given back; its place in line (queued_at) is
-- kept, so it goes out before requests enqueued meanwhile. Guard:
-- processing under this lease and never submitted.
-- ---------------------------------------------------------------------------
create function public.defer_music_request(
  p_request_id uuid,
  p_lease_token uuid,
  p_delay_seconds integer,
  p_reason text default 'rate_limited'
)
returns setof public.music_generation_queue
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  return query
    with target as materialized (
      select q.id, q.lease_owner
        from public.music_generation_queue q
       where q.id = p_request_id
         and q.status = 'processing'
         and q.lease_token = p_lease_token
         and q.suno_task_id is null
         for update
    ), done as (
      update public.music_generation_queue q
         set status = 'pending',
             attempts = greatest(q.attempts - 1, 0),
             run_at = statement_timestamp() + make_interval(secs => greatest(coalesce(p_delay_seconds, 0), 0)),
             provider_status = null,
             callback_wait_until = null,
             lease_owner = null,
             lease_token = null,
             lease_expires_at = null,
             updated_at = statement_timestamp()
        from target t
       where q.id = t.id
      returning q.*
    ), logged as (
      insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, detail)
      select d.id, d.user_id, 'deferred', d.status, d.attempts, t.lease_owner,
             jsonb_build_object('reason', left(p_reason, 200), 'delay_seconds', p_delay_seconds,
                                'run_at', d.run_at)
        from done d
        join target t on t.id = d.id
    )
    select * from done;
end
$$;

-- ---------------------------------------------------------------------------
-- fail: a definitive failure (bad request, sensitive words, lost task). The
-- request fails with the reason and gets a fallback track of its emotion,
-- or of any emotion when its own has none (fallback_same_emotion says
-- which). Guard: processing under this lease.
-- ---------------------------------------------------------------------------
create function public.fail_music_request(
  p_request_id uuid,
  p_lease_token uuid,
  p_error_code text,
  p_error_message text default null
)
returns setof public.music_generation_queue
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  return query
    with target as materialized (
      select q.id, q.emotion, q.lease_owner
        from public.music_generation_queue q
       where q.id = p_request_id
         and q.status = 'processing'
         and q.lease_token = p_lease_token
         for update
    ), pick as (
      select t.id, f.track_id, f.same_emotion
        from target t
       cross join lateral public._music_pick_fallback(t.emotion) f
    ), done as (
      update public.music_generation_queue q
         set status = 'failed',
             failed_at = statement_timestamp(),
             error_code = left(coalesce(p_error_code, 'error'), 64),
             error_message = left(p_error_message, 2000),
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
      select d.id, d.user_id, e.event, d.status, d.attempts, t.lease_owner, e.detail
        from done d
        join target t on t.id = d.id
       cross join lateral (values
         ('failed', jsonb_build_object('error_code', d.error_code, 'error_message', d.error_message,
                                       'suno_task_id', d.suno_task_id,
                                       'fallback_track_id', d.fallback_track_id)),
         ('fallback', jsonb_build_object('track_id', d.fallback_track_id,
                                         'same_emotion', d.fallback_same_emotion))
       ) e (event, detail)
       where e.event <> 'fallback' or d.fallback_track_id is not null
    )
    select * from done;
end
$$;

-- ---------------------------------------------------------------------------
-- expire: claimed rows whose worker vanished before submitting, whose lease
-- has expired and which have no attempt left, cannot be claimed again: fail
-- them (error_code lease_expired) with a fallback. Run by the worker and by
-- music_queue_maintenance. Returns how many it failed.
-- ---------------------------------------------------------------------------
create function public.expire_music_requests(p_queue text default null)
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
