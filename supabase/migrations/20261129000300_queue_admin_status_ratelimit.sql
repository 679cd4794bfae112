-- Music generation queue: admin actions, provider status and the shared
-- submit rate limit.
--
-- Admin actions (retry a failed request, cancel a waiting or running one,
-- pause and resume a queue) check the caller inside: an admin JWT
-- (app_metadata.role admin or manager), the service role, or an operator's
-- SQL session; anyone else gets SQLSTATE 42501 (PostgREST: 403).
-- The provider status is written atomically by one statement per check; the
-- rate limit is a row that every caller takes from with one UPDATE.

-- ---------------------------------------------------------------------------
-- admin retry: failed -> pending, attempts reset, error and fallback
-- cleared, due now; the event names the admin. Guard: still failed (a second
-- click changes nothing). If the failure was already summed into the daily
-- totals, the same statement takes it back out; the statistics horizon is
-- share-locked first so a concurrent roll-up cannot count it twice.
-- ---------------------------------------------------------------------------
create function public.admin_retry_music_request(p_request_id uuid)
returns setof public.music_generation_queue
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform public._music_require_admin();
  perform 1 from public.music_queue_stats_horizon for share;

  return query
  with target as materialized (
    select q.id, q.queue, q.failed_at, q.error_code, q.error_message, q.attempts
      from public.music_generation_queue q
     where q.id = p_request_id
       and q.status = 'failed'
       for update
  ), done as (
    update public.music_generation_queue q
       set status = 'pending',
           attempts = 0,
           run_at = statement_timestamp(),
           error_code = null,
           error_message = null,
           failed_at = null,
           fallback_track_id = null,
           fallback_same_emotion = null,
           suno_task_id = null,
           submitted_at = null,
           started_at = null,
           provider_status = null,
           queued_at = statement_timestamp(),
           ambiguous_submits = 0,
           poll_rereads = 0,
           stuck_resubmits = 0,
           updated_at = statement_timestamp()
      from target t
     where q.id = t.id
    returning q.*
  ), uncounted as (
    update public.music_queue_daily_totals d
       set failed = d.failed - (t.error_code is distinct from 'cancelled')::integer,
           cancelled = d.cancelled - (t.error_code = 'cancelled')::integer
      from target t, public.music_queue_stats_horizon h
     where t.failed_at < h.horizon
       and d.queue = t.queue
       and d.day = (t.failed_at at time zone 'UTC')::date
  ), logged as (
    insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, actor_user_id, detail)
    select d.id, d.user_id, 'admin_retried', d.status, d.attempts, public._music_actor(), auth.uid(),
           jsonb_build_object('previous_error_code', t.error_code,
                              'previous_error_message', t.error_message,
                              'previous_attempts', t.attempts)
      from done d
      join target t on t.id = d.id
  )
  select * from done;
end
$$;

-- ---------------------------------------------------------------------------
-- admin cancel: pending or processing -> failed with the fixed message. The
-- lease is dropped, so a worker finishing later (complete, retry, ...) finds
-- no processing row under its token and changes nothing. No fallback: the
-- stop was deliberate. Guard: pending or processing.
-- ---------------------------------------------------------------------------
create function public.admin_cancel_music_request(p_request_id uuid)
returns setof public.music_generation_queue
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform public._music_require_admin();

  return query
  with target as materialized (
    select q.id, q.status, q.lease_owner, q.suno_task_id
      from public.music_generation_queue q
     where q.id = p_request_id
       and q.status in ('pending', 'processing')
       for update
  ), done as (
    update public.music_generation_queue q
       set status = 'failed',
           failed_at = statement_timestamp(),
           error_code = 'cancelled',
           error_message = 'Annulé manuellement par un administrateur',
           callback_wait_until = null,
           lease_owner = null,
           lease_token = null,
           lease_expires_at = null,
           updated_at = statement_timestamp()
      from target t
     where q.id = t.id
    returning q.*
  ), logged as (
    insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, actor_user_id, detail)
    select d.id, d.user_id, 'cancelled', d.status, d.attempts, public._music_actor(), auth.uid(),
           jsonb_build_object('previous_status', t.status, 'lease_owner', t.lease_owner,
                              'suno_task_id', t.suno_task_id)
      from done d
      join target t on t.id = d.id
  )
  select * from done;
end
$$;

-- ---------------------------------------------------------------------------
-- pause / resume: an admin's manual switch. A paused queue gives nothing to
-- claims (submitted tasks are still polled and finished). Returns the queue
-- row. Automatic pauses (bad key, no credits, maintenance, circuit open,
-- rate-limit cool-down) are kept apart, in suno_api_status.paused_until,
-- and are lifted only by provider checks: resuming here never lifts one, and
-- a healthy check never lifts an admin's pause.
-- ---------------------------------------------------------------------------
create function public.pause_music_queue(p_reason text default null, p_queue text default 'default')
returns public.music_queues
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_queue public.music_queues;
begin
  perform public._music_require_admin();
  update public.music_queues
     set paused = true,
         paused_at = coalesce(paused_at, statement_timestamp()),
         paused_by = left(public._music_actor(), 200),
         pause_reason = left(p_reason, 500),
         updated_at = statement_timestamp()
   where name = p_queue
  returning * into v_queue;
  if not found then
    raise exception using errcode = 'P0002', message = format('unknown queue %L', p_queue);
  end if;
  return v_queue;
end
$$;

create function public.resume_music_queue(p_queue text default 'default')
returns public.music_queues
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_queue public.music_queues;
begin
  perform public._music_require_admin();
  update public.music_queues
     set paused = false,
         paused_at = null,
         paused_by = null,
         pause_reason = null,
         updated_at = statement_timestamp()
   where name = p_queue
  returning * into v_queue;
  if not found then
    raise exception using errcode = 'P0002', message = format('unknown queue %L', p_queue);
  end if;
  return v_queue;
end
$$;

-- ---------------------------------------------------------------------------
-- configure: an admin changes how the worker drains a queue. A null argument
-- keeps the current value (max_per_run: 0 removes the cap); a value out of
-- range is refused naming the field (22023). The worker reads the row at the start of each run, so a change
-- takes effect at the next run (max_attempts: for requests enqueued from
-- then on). Returns the queue row.
-- ---------------------------------------------------------------------------
create function public.configure_music_queue(
  p_queue text default 'default',
  p_batch_size integer default null,
  p_submit_spacing_ms integer default null,
  p_max_attempts integer default null,
  p_max_pending_per_user integer default null,
  p_max_per_run integer default null
)
returns public.music_queues
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_queue public.music_queues;
begin
  perform public._music_require_admin();
  if p_batch_size not between 1 and 1000 then
    perform public._music_bad_input('batch_size', 'batch_size must be from 1 to 1000');
  end if;
  if p_submit_spacing_ms not between 0 and 60000 then
    perform public._music_bad_input('submit_spacing_ms', 'submit_spacing_ms must be from 0 to 60000');
  end if;
  if p_max_attempts not between 1 and 10 then
    perform public._music_bad_input('max_attempts', 'max_attempts must be from 1 to 10');
  end if;
  if p_max_pending_per_user not between 1 and 1000000 then
    perform public._music_bad_input('max_pending_per_user', 'max_pending_per_user must be from 1 to 1000000');
  end if;
  if p_max_per_run not between 0 and 100000 then
    perform public._music_bad_input('max_per_run', 'max_per_run must be from 0 (no cap) to 100000');
  end if;
  update public.music_queues
     set batch_size = coalesce(p_batch_size, batch_size),
         submit_spacing_ms = coalesce(p_submit_spacing_ms, submit_spacing_ms),
         max_attempts = coalesce(p_max_attempts, max_attempts),
         max_pending_per_user = coalesce(p_max_pending_per_user, max_pending_per_user),
         max_per_run = case when p_max_per_run is null then max_per_run
                            else nullif(p_max_per_run, 0) end,
         updated_at = statement_timestamp()
   where name = p_queue
  returning * into v_queue;
  if not found then
    raise exception using errcode = 'P0002', message = format('unknown queue %L', p_queue);
  end if;
  return v_queue;
end
$$;

-- ---------------------------------------------------------------------------
-- record a provider check: appends to the history and updates the current
-- status in one statement, computed from the locked current row (no
-- read-modify-write), so concurrent checkers never lose a count.
--
-- A check is healthy when the state is 'up', or 'degraded' without an error
-- (a slow answer). The failure streak (functions/core `health.rs` applies
-- the same rule within a run):
--   * a healthy check resets it to 0;
--   * a transient failure ('degraded' with an error, or 'down') extends a
--     streak of transient failures, else starts one at 1;
--   * 'rate_limited', 'maintenance', 'unauthorized' and 'no_credits' count
--     their own streak (+ 1 when the state repeats, else 1), so two 430s
--     and a 503 do not open the circuit that is meant for failures.
--
-- The pause: a check may ask for one (p_paused_until); its kind follows from
-- the state that asked ('rate_limited' -> cooldown, 'maintenance' ->
-- maintenance, 'unauthorized' / 'no_credits' -> config, else circuit). A
-- running pause that ends later is kept, except that a healthy check lifts
-- our own pauses (circuit, config) at once. The provider's pauses (cooldown,
-- maintenance) run their course whatever later checks say: the decision is
-- on the time and the kind of the pause, never on the current state.
-- ---------------------------------------------------------------------------
create function public.record_suno_status_check(
  p_state text,
  p_response_time_ms integer default null,
  p_error text default null,
  p_credits numeric default null,
  p_http_status integer default null,
  p_paused_until timestamptz default null
)
returns public.suno_api_status
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_status public.suno_api_status;
begin
  with checked as (
    insert into public.suno_api_status_checks (state, is_available, response_time_ms, http_status, error, credits)
    values (p_state, p_state in ('up', 'degraded'), p_response_time_ms, p_http_status,
            left(p_error, 2000), p_credits)
    returning *,
              state = 'up' or (state = 'degraded' and error is null) as healthy,
              case state
                when 'rate_limited' then 'cooldown'
                when 'maintenance' then 'maintenance'
                when 'unauthorized' then 'config'
                when 'no_credits' then 'config'
                else 'circuit'
              end as asked_kind
  )
  update public.suno_api_status s
     set state = c.state,
         is_available = c.is_available,
         consecutive_failures = case
           when c.healthy then 0
           when c.state in ('degraded', 'down') and s.state in ('degraded', 'down')
             then s.consecutive_failures + 1
           when c.state = s.state then s.consecutive_failures + 1
           else 1
         end,
         last_check_at = c.checked_at,
         last_success_at = case when c.healthy then c.checked_at else s.last_success_at end,
         last_failure_at = case when c.healthy then s.last_failure_at else c.checked_at end,
         response_time_ms = c.response_time_ms,
         last_error = case when c.healthy then s.last_error else coalesce(c.error, c.state) end,
         credits = coalesce(c.credits, s.credits),
         -- The same "keep the running pause" test twice: once for the time,
         -- once for its kind, so the two always come from the same pause.
         paused_until = case
           when s.paused_until > c.checked_at
                and (not c.healthy or s.pause_kind in ('cooldown', 'maintenance'))
                and (p_paused_until is null or s.paused_until >= p_paused_until)
             then s.paused_until
           else p_paused_until
         end,
         pause_kind = case
           when s.paused_until > c.checked_at
                and (not c.healthy or s.pause_kind in ('cooldown', 'maintenance'))
                and (p_paused_until is null or s.paused_until >= p_paused_until)
             then s.pause_kind
           when p_paused_until is not null then c.asked_kind
         end,
         updated_at = c.checked_at
    from checked c
   where s.id
  returning s.* into v_status;
  return v_status;
end
$$;

-- The provider's whole current status, credits and last error included:
-- admins and the service role only. Everyone else reads the public part
-- (state, availability, response time, last check) from the table, whose
-- other columns are not granted to them (20261129000500_queue_rls_grants.sql).
create function public.get_suno_api_status()
returns public.suno_api_status
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_status public.suno_api_status;
begin
  perform public._music_require_admin();
  select * into v_status from public.suno_api_status where id;
  return v_status;
end
$$;

-- ---------------------------------------------------------------------------
-- rate limit: take one token from a shared bucket. Granted while fewer than
-- `capacity` takes happened in the last `window_seconds` (a sliding window:
-- the provider never sees more than 20 submits in any 10 s) and the provider
-- is not paused (suno_api_status.paused_until; every bucket meters calls to
-- the provider). One UPDATE decides: concurrent takers queue on the row
-- lock and each re-checks the condition against the newest `taken`, so the
-- budget is never exceeded. Refused: wait_ms says when both the oldest take
-- has left the window and the pause has ended.
-- clock_timestamp() on purpose: a taker that waited on the lock must be
-- stamped with the moment it was granted.
-- ---------------------------------------------------------------------------
create function public.take_rate_token(p_bucket text default 'suno_submit')
returns table (granted boolean, wait_ms integer, remaining integer)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_taken timestamptz[];
  v_capacity integer;
  v_window numeric;
  v_paused_until timestamptz;
begin
  update public.music_rate_limits b
     set taken = (b.taken || clock_timestamp())[greatest(cardinality(b.taken) + 2 - b.capacity, 1):],
         updated_at = clock_timestamp()
   where b.name = p_bucket
     and (cardinality(b.taken) < b.capacity
          or b.taken[1] <= clock_timestamp() - make_interval(secs => b.window_seconds))
     and not exists (select from public.suno_api_status s where s.paused_until > clock_timestamp())
  returning b.taken, b.capacity, b.window_seconds into v_taken, v_capacity, v_window;

  if found then
    return query
    select true, 0,
           v_capacity - (select count(*)::integer from unnest(v_taken) t
                          where t > clock_timestamp() - make_interval(secs => v_window));
    return;
  end if;

  select b.taken, b.capacity, b.window_seconds into v_taken, v_capacity, v_window
    from public.music_rate_limits b
   where b.name = p_bucket;
  if not found then
    raise exception using errcode = 'P0002', message = format('unknown rate limit %L', p_bucket);
  end if;
  select s.paused_until into v_paused_until from public.suno_api_status s where s.id;

  return query
  select false,
         greatest(
           ceil(extract(epoch from greatest(
             case when cardinality(v_taken) >= v_capacity
                  then v_taken[1] + make_interval(secs => v_window) end,
             v_paused_until) - clock_timestamp()) * 1000),
           1)::integer,
         0;
end
$$;

-- Creates or changes a bucket (admin). Keeps the most recent takes that fit.
create function public.set_rate_limit(p_bucket text, p_capacity integer, p_window_seconds numeric)
returns public.music_rate_limits
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_row public.music_rate_limits;
begin
  perform public._music_require_admin();
  insert into public.music_rate_limits as b (name, capacity, window_seconds)
  values (p_bucket, p_capacity, p_window_seconds)
  on conflict (name) do update
     set capacity = excluded.capacity,
         window_seconds = excluded.window_seconds,
         taken = b.taken[greatest(cardinality(b.taken) - excluded.capacity + 1, 1):],
         updated_at = clock_timestamp()
  returning * into v_row;
  return v_row;
end
$$;
