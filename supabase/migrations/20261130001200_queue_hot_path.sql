-- Music generation queue: a cheaper completion, and completion of many
-- requests in one call.
--
-- Same contracts, guards and history as 20261129000200_queue_transitions.sql;
-- what changes is what each call costs the server (measured in the branch
-- that brought this file: pg_stat_statements and WAL per job).
--
-- * The claim is left as it was. Its statement is planned again at every
--   call, and planning costs as much as running it, but every cheaper shape
--   tried lost elsewhere: the generic plan of the one statement (no
--   planning) does not know the queue's size and, at a million finished
--   rows, sorts every waiting row instead of reading the claim index in
--   order (15 ms a claim); picking in a dynamic query planned per call and
--   updating with a kept plan cost as much as before.
-- * Completion no longer locks the row before updating it (a WAL record and
--   a lock per job): the UPDATE itself checks status and lease, and a
--   concurrent writer makes it re-check them on the newest row version, so
--   a late or duplicate completion still changes nothing.
-- * complete_music_requests finishes a batch in one statement and one
--   commit; complete_music_request keeps a one-row statement of the same
--   shape (the clips' tracks come from one helper, _music_result_tracks).
-- * Events lose their by-user index: every read of events names its
--   request (the panel's history, RLS included, goes through
--   music_generation_events_request_idx), and a user's own read is filtered
--   by the policy's OR, which no index serves; it cost an index entry per
--   event, three per request.

drop index public.music_generation_events_user_idx;

-- ---------------------------------------------------------------------------
-- complete: helpers shared by the single and the batch completion.
-- ---------------------------------------------------------------------------

-- What a finished generation must look like: {"clips": [...]} with at
-- least one clip, each with an http(s) audio_url. PL/pgSQL, so the check's
-- plan is kept (a SQL function with a subquery is planned at every call).
create function public._music_result_is_valid(p_result jsonb)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
begin
  return case when jsonb_typeof(p_result -> 'clips') = 'array'
              then jsonb_array_length(p_result -> 'clips') > 0
                   and not exists (select from jsonb_array_elements(p_result -> 'clips') c
                                    where coalesce(c ->> 'audio_url', '') !~ '^https?://')
              else false end;
end
$$;

-- The library tracks of a completed request, one per clip (the rules are
-- complete_music_request's in 20261129000200): optional fields that do not
-- fit are null, a clip whose audio URL does not fit is left out, and the
-- tracks may serve other users only when p_shareable. SQL and stable, so it
-- is inlined into the completion statement and planned with it.
create function public._music_result_tracks(
  p_result jsonb,
  p_emotion text,
  p_shareable boolean,
  p_request_id uuid,
  p_user_id uuid
)
returns table (
  emotion text, title text, audio_url text, stream_audio_url text, image_url text,
  duration_seconds double precision, tags text, source text, fallback_eligible boolean,
  request_id uuid, user_id uuid, provider_clip_id text, expires_at timestamptz)
language sql
stable
as $$
  select p_emotion, left(c ->> 'title', 200), c ->> 'audio_url',
         case when char_length(c ->> 'stream_audio_url') <= 2000 then c ->> 'stream_audio_url' end,
         case when char_length(c ->> 'image_url') <= 2000 then c ->> 'image_url' end,
         case when jsonb_typeof(c -> 'duration') = 'number' then
           case when (c ->> 'duration')::numeric >= 0 and (c ->> 'duration')::numeric < 3600
                then (c ->> 'duration')::double precision end
         end,
         left(c ->> 'tags', 1000), 'generated', p_shareable, p_request_id, p_user_id,
         case when char_length(c ->> 'id') <= 128 then c ->> 'id' end,
         statement_timestamp() + interval '15 days'
    from jsonb_array_elements(p_result -> 'clips') c
   where char_length(c ->> 'audio_url') <= 2000
$$;

-- ---------------------------------------------------------------------------
-- complete (contract unchanged; see complete_music_request in 20261129000200).
--
-- No lock before the update: the UPDATE's own guard (processing under this
-- lease) is checked again on the newest version of the row when another
-- writer got there first, so a late or duplicate completion changes
-- nothing. The holder named in the event is read from the statement's
-- snapshot: a row keeps its lease_owner for as long as it keeps its lease
-- token (only a claim sets both), so any version under this token names
-- the same worker.
-- ---------------------------------------------------------------------------
create or replace function public.complete_music_request(
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
  if not public._music_result_is_valid(p_result) then
    perform public._music_bad_input('result',
      'result must be {"clips": [...]} with at least one clip, each with an http(s) audio_url');
  end if;

  return query
  with done as (
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
     where q.id = p_request_id
       and q.status = 'processing'
       and q.lease_token = p_lease_token
    returning q.*
  ), tracks as (
    insert into public.music_tracks (
      emotion, title, audio_url, stream_audio_url, image_url, duration_seconds, tags,
      source, fallback_eligible, request_id, user_id, provider_clip_id, expires_at)
    select t.*
      from done d
     cross join lateral public._music_result_tracks(
       d.result, d.emotion,
       d.instrumental and d.context is null and d.asked_style is null and d.asked_title is null,
       d.id, d.user_id) t
        on conflict (provider_clip_id) where provider_clip_id is not null do nothing
    returning id
  ), logged as (
    insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, detail)
    select d.id, d.user_id, 'completed', d.status, d.attempts,
           (select o.lease_owner from public.music_generation_queue o where o.id = d.id),
           jsonb_build_object(
             'suno_task_id', d.suno_task_id,
             'clips', jsonb_array_length(d.result -> 'clips'),
             'track_ids', (select coalesce(jsonb_agg(tr.id), '[]'::jsonb) from tracks tr))
      from done d
  )
  select * from done;
end
$$;

-- ---------------------------------------------------------------------------
-- complete many: p_completions is a JSON array of
-- {"request_id", "lease_token", "result"}, 1 to 1000 of them, as a worker
-- finishing several requests at once sends them. Every item is checked
-- before anything is written (22023 naming the item, from 0); then each
-- request completes as with complete_music_request, all in one statement
-- and one commit. Returns the requests it completed: a stale lease, a
-- cancelled or an already finished request is skipped without failing the
-- others, and of two items naming one request only the first counts.
-- ---------------------------------------------------------------------------
create function public.complete_music_requests(p_completions jsonb)
returns setof public.music_generation_queue
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_ids uuid[];
  v_tokens uuid[];
  v_results jsonb[];
  v_bad bigint;
begin
  if jsonb_typeof(p_completions) is distinct from 'array'
     or jsonb_array_length(p_completions) not between 1 and 1000 then
    perform public._music_bad_input('completions',
      'completions must be an array of 1 to 1000 {request_id, lease_token, result}');
  end if;
  select min(c.n) filter (where c.request_id is null or c.lease_token is null
                                or not public._music_result_is_valid(c.result)),
         array_agg(c.request_id order by c.n),
         array_agg(c.lease_token order by c.n),
         array_agg(c.result order by c.n)
    into v_bad, v_ids, v_tokens, v_results
    from rows from (jsonb_to_recordset(p_completions) as (request_id uuid, lease_token uuid, result jsonb))
           with ordinality as c (request_id, lease_token, result, n);
  if v_bad is not null then
    perform public._music_bad_input(format('completions[%s]', v_bad - 1),
      'each completion needs a request_id, a lease_token and a result {"clips": [...]} '
      || 'with at least one clip, each with an http(s) audio_url');
  end if;

  return query
  with input as (
    -- The first item naming a request is the one that counts.
    select distinct on (i.id) i.id, i.lease_token, i.result
      from unnest(v_ids, v_tokens, v_results) with ordinality as i (id, lease_token, result, n)
     order by i.id, i.n
  ), done as (
    update public.music_generation_queue q
       set status = 'completed',
           result = i.result,
           completed_at = statement_timestamp(),
           provider_status = 'SUCCESS',
           callback_wait_until = null,
           lease_owner = null,
           lease_token = null,
           lease_expires_at = null,
           error_code = null,
           error_message = null,
           updated_at = statement_timestamp()
      from input i
     where q.id = any (v_ids)
       and q.id = i.id
       and q.status = 'processing'
       and q.lease_token = i.lease_token
    returning q.*
  ), tracks as (
    insert into public.music_tracks (
      emotion, title, audio_url, stream_audio_url, image_url, duration_seconds, tags,
      source, fallback_eligible, request_id, user_id, provider_clip_id, expires_at)
    select t.*
      from done d
     cross join lateral public._music_result_tracks(
       d.result, d.emotion,
       d.instrumental and d.context is null and d.asked_style is null and d.asked_title is null,
       d.id, d.user_id) t
        on conflict (provider_clip_id) where provider_clip_id is not null do nothing
    returning id, request_id
  ), logged as (
    insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, detail)
    select d.id, d.user_id, 'completed', d.status, d.attempts,
           (select o.lease_owner from public.music_generation_queue o where o.id = d.id),
           jsonb_build_object(
             'suno_task_id', d.suno_task_id,
             'clips', jsonb_array_length(d.result -> 'clips'),
             'track_ids', (select coalesce(jsonb_agg(tr.id), '[]'::jsonb)
                             from tracks tr where tr.request_id = d.id))
      from done d
  )
  select * from done;
end
$$;

revoke all on function
  public._music_result_is_valid(jsonb),
  public._music_result_tracks(jsonb, text, boolean, uuid, uuid),
  public.complete_music_requests(jsonb)
  from public, anon, authenticated, service_role;
grant execute on function public.complete_music_requests(jsonb) to service_role;
