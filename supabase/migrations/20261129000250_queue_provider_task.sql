-- Music generation queue: the transitions around a provider task.
--
-- What happens between "sent to the provider" and "finished": a submit whose
-- answer was lost, the provider's callbacks, the bookkeeping of each poll,
-- and a task that is stuck. Same rules as 20261129000200_queue_transitions.sql:
-- one function per transition, one statement where it can be, guarded so a
-- late or duplicate writer changes 0 rows, `setof music_generation_queue`
-- returned (empty when nothing changed).
--
-- Callbacks carry the request id and the request's callback_token in their
-- URL, nothing else we can trust: the functions they reach compare the token
-- in constant time and only ever attach a task id or make a poll due. What a
-- task became is always read from the provider (record-info), never taken
-- from a callback's body.

-- Constant-time token check: the digests are compared, so how long the
-- comparison takes says nothing about the stored token. Not exposed to API
-- roles.
create function public._music_token_matches(p_given text, p_stored text)
returns boolean
language sql
immutable
as $$
  select p_given is not null and p_stored is not null
     and extensions.digest(p_given, 'sha256') = extensions.digest(p_stored, 'sha256')
$$;

-- ---------------------------------------------------------------------------
-- await callback: the submit was sent but its answer was lost (reset or
-- timeout after sending), so the provider may have created, and charged, a
-- task. Submitting again at once could pay twice. Instead the row stays
-- processing, without a task id, until p_wait_seconds from now: a callback
-- may attach the task meanwhile (attach_music_task). When the wait ends
-- unattached, claim_music_requests takes the row back; after the first such
-- wait without counting an attempt (the request did nothing wrong), after a
-- later one counting it as usual, so lost answers cannot loop for ever.
-- Guard: processing under this lease and not submitted.
-- ---------------------------------------------------------------------------
create function public.await_music_callback(
  p_request_id uuid,
  p_lease_token uuid,
  p_wait_seconds integer
)
returns setof public.music_generation_queue
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if p_wait_seconds is null or p_wait_seconds not between 1 and 3600 then
    perform public._music_bad_input('wait_seconds', 'the wait must be from 1 to 3600 seconds');
  end if;

  return query
    with done as (
      update public.music_generation_queue q
         set callback_wait_until = statement_timestamp() + make_interval(secs => p_wait_seconds),
             run_at = statement_timestamp() + make_interval(secs => p_wait_seconds),
             lease_expires_at = statement_timestamp() + make_interval(secs => p_wait_seconds),
             ambiguous_submits = q.ambiguous_submits + 1,
             updated_at = statement_timestamp()
       where q.id = p_request_id
         and q.status = 'processing'
         and q.lease_token = p_lease_token
         and q.suno_task_id is null
      returning q.*
    ), logged as (
      insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, detail)
      select d.id, d.user_id, 'awaiting_callback', d.status, d.attempts, d.lease_owner,
             jsonb_build_object('until', d.callback_wait_until, 'lost_answers', d.ambiguous_submits)
        from done d
    )
    select * from done;
end
$$;

-- ---------------------------------------------------------------------------
-- attach a task from a callback: a request waiting after a lost submit
-- answer learns its task id from the provider's callback. The row becomes
-- submitted (as mark_music_request_submitted would have made it) and due for
-- a poll now; it will not be submitted again. Authenticated by the request's
-- callback token, not the lease (the callback handler holds no lease).
-- Guard: processing, waiting for a callback, no task yet; so a callback for
-- a task given up on (the request was resubmitted) attaches nothing.
-- ---------------------------------------------------------------------------
create function public.attach_music_task(
  p_request_id uuid,
  p_callback_token text,
  p_suno_task_id text
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
             submitted_at = statement_timestamp(),
             provider_status = 'PENDING',
             callback_wait_until = null,
             poll_rereads = 0,
             run_at = statement_timestamp(),
             updated_at = statement_timestamp()
       where q.id = p_request_id
         and q.status = 'processing'
         and q.suno_task_id is null
         and q.callback_wait_until is not null
         and public._music_token_matches(p_callback_token, q.callback_token)
      returning q.*
    ), logged as (
      insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, detail)
      select d.id, d.user_id, 'submitted', d.status, d.attempts, 'callback',
             jsonb_build_object('suno_task_id', d.suno_task_id, 'model', d.model, 'via', 'callback')
        from done d
    )
    select * from done;
end
$$;

-- ---------------------------------------------------------------------------
-- wake: a provider callback arrived for a submitted request, so its next
-- poll is due now (claim_music_polls hands it out). Authenticated by the
-- request's callback token. Nothing else changes and nothing is logged:
-- callbacks come several times per task, and the read that follows records
-- what happened. Guard: processing and submitted; the row comes back even
-- when it was already due, so an empty answer means a wrong token or a
-- request with no task to read.
-- ---------------------------------------------------------------------------
create function public.wake_music_request(p_request_id uuid, p_callback_token text)
returns setof public.music_generation_queue
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  return query
    update public.music_generation_queue q
       set run_at = least(q.run_at, statement_timestamp()),
           updated_at = statement_timestamp()
     where q.id = p_request_id
       and q.status = 'processing'
       and q.suno_task_id is not null
       and public._music_token_matches(p_callback_token, q.callback_token)
    returning q.*;
end
$$;

-- ---------------------------------------------------------------------------
-- after a poll: when to read the task next (the poller's decision, e.g. a
-- Retry-After on the read), and whether this read was an anomaly (task not
-- found, success without audio) to count in poll_rereads, which bounds how
-- long a vanished task is read again. Guard: processing under this lease,
-- with a task.
-- ---------------------------------------------------------------------------
create function public.schedule_music_poll(
  p_request_id uuid,
  p_lease_token uuid,
  p_next_poll_seconds integer,
  p_reread boolean default false
)
returns setof public.music_generation_queue
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if p_next_poll_seconds is null or p_next_poll_seconds not between 0 and 86400 then
    perform public._music_bad_input('next_poll_seconds', 'the next poll must be 0 to 86400 seconds away');
  end if;

  return query
    update public.music_generation_queue q
       set run_at = statement_timestamp() + make_interval(secs => p_next_poll_seconds),
           poll_rereads = q.poll_rereads + case when coalesce(p_reread, false) then 1 else 0 end,
           updated_at = statement_timestamp()
     where q.id = p_request_id
       and q.status = 'processing'
       and q.lease_token = p_lease_token
       and q.suno_task_id is not null
    returning q.*;
end
$$;

-- ---------------------------------------------------------------------------
-- resubmit a stuck task: the provider has not finished the task for too
-- long. Once per request (stuck_resubmits), and only with an attempt left:
-- the task is forgotten and the request goes back to pending, due now, in
-- its old place in line; the next claim submits it again and counts the
-- attempt. Guard: processing under this lease, with a task, never
-- resubmitted for being stuck.
-- ---------------------------------------------------------------------------
create function public.resubmit_stuck_music_request(
  p_request_id uuid,
  p_lease_token uuid,
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
      select q.id, q.lease_owner, q.suno_task_id
        from public.music_generation_queue q
       where q.id = p_request_id
         and q.status = 'processing'
         and q.lease_token = p_lease_token
         and q.suno_task_id is not null
         and q.stuck_resubmits = 0
         and q.attempts < q.max_attempts
         for update
    ), done as (
      update public.music_generation_queue q
         set status = 'pending',
             run_at = statement_timestamp(),
             suno_task_id = null,
             submitted_at = null,
             provider_status = null,
             poll_rereads = 0,
             stuck_resubmits = q.stuck_resubmits + 1,
             error_code = 'task_stuck',
             error_message = left(p_error_message, 2000),
             lease_owner = null,
             lease_token = null,
             lease_expires_at = null,
             updated_at = statement_timestamp()
        from target t
       where q.id = t.id
      returning q.*
    ), logged as (
      insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, detail)
      select d.id, d.user_id, 'resubmitted', d.status, d.attempts, t.lease_owner,
             jsonb_build_object('stuck_suno_task_id', t.suno_task_id, 'error_message', d.error_message)
        from done d
        join target t on t.id = d.id
    )
    select * from done;
end
$$;
