-- Each table's CHECKs are one CHECK calling a function, so PostgreSQL reads
-- them once per session instead of in every statement that writes a row.
--
-- PostgreSQL keeps a CHECK as stored node text and parses and prepares
-- every CHECK of a table again in each statement that writes to it. A claim
-- and a completion write the queue row (14 checks), the history (4 checks,
-- twice) and the tracks (9 checks): that reading was the largest single cost
-- of a job left in the database (a sixth of its CPU, from `perf`). A
-- PL/pgSQL function's expressions are prepared once per session, so the
-- call costs a small node to read and one function call per row.
--
-- Nothing about what is refused changes: the conditions are the old ones,
-- null still passes, and a refusal still raises 23514 naming the old check
-- (the first to fail, in name order, as PostgreSQL reports them). The
-- constraint itself is still a CHECK, so it is validated against the rows
-- already stored when it is added, and no session setting turns it off.

-- Raises check_violation naming p_table's check p_checks[i] for the first i
-- whose verdict is false; a null verdict passes, as in a CHECK.
create function public._music_raise_failed_check(
  p_table text,
  p_checks text[],
  p_verdicts boolean[]
)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_name text;
begin
  for i in 1 .. cardinality(p_checks) loop
    if not coalesce(p_verdicts[i], true) then
      v_name := p_table || '_' || p_checks[i];
      raise exception 'new row for relation "%" violates check constraint "%"', p_table, v_name
        using errcode = 'check_violation', schema = 'public', table = p_table, constraint = v_name;
    end if;
  end loop;
  return true;
end
$$;

-- The request checks' trigger (20261130003100) raises through the same helper,
-- and, like the functions below, calls it only when a check fails.
create or replace function public._music_request_checks()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_verdicts boolean[] := array[
    new.emotion in ('joy', 'calm', 'sad', 'anger', 'anxious', 'energetic', 'neutral'),
    new.intensity between 0 and 1,
    char_length(new.context) <= 500,
    char_length(new.asked_style) between 1 and 1000,
    char_length(new.asked_title) between 1 and 100,
    char_length(new.prompt) between 1 and 5000
      and (new.style is not null or char_length(new.prompt) <= 500),
    char_length(new.style) between 1 and 1000,
    char_length(new.title) between 1 and 100,
    new.model ~ '^V[0-9A-Z_]{1,15}$',
    new.priority between 0 and 9,
    new.max_attempts between 1 and 10,
    char_length(new.idempotency_key) between 1 and 255];
begin
  if false = any (v_verdicts) then
    perform public._music_raise_failed_check('music_generation_queue',
      array['emotion_known', 'intensity_range', 'context_length', 'asked_style_length',
            'asked_title_length', 'prompt_length', 'style_length', 'title_length',
            'model_format', 'priority_range', 'max_attempts_range', 'idempotency_key_length'],
      v_verdicts);
  end if;
  return new;
end
$$;

-- ---------------------------------------------------------------------------
-- The queue row's state: the columns the steps change.
-- ---------------------------------------------------------------------------
create function public._music_request_state_valid(
  status text,
  attempts integer,
  max_attempts integer,
  lease_owner text,
  lease_token uuid,
  lease_expires_at timestamptz,
  suno_task_id text,
  provider_status text,
  result jsonb,
  completed_at timestamptz,
  failed_at timestamptz,
  fallback_track_id uuid,
  error_code text,
  error_message text,
  ambiguous_submits integer,
  poll_rereads integer,
  stuck_resubmits integer,
  callback_wait_until timestamptz
)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_verdicts boolean[] := array[
    attempts between 0 and max_attempts,
    callback_wait_until is null or (status = 'processing' and suno_task_id is null),
    (status = 'completed') = (completed_at is not null)
      and (status <> 'completed' or coalesce(jsonb_typeof(result -> 'clips') = 'array', false)),
    char_length(error_code) between 1 and 64,
    char_length(error_message) <= 2000,
    (status = 'failed') = (failed_at is not null),
    fallback_track_id is null or status = 'failed',
    (status = 'processing')
      = (lease_owner is not null and lease_token is not null and lease_expires_at is not null),
    char_length(lease_owner) between 1 and 200,
    status <> 'pending' or suno_task_id is null,
    ambiguous_submits >= 0 and poll_rereads >= 0 and stuck_resubmits >= 0,
    char_length(provider_status) <= 64,
    status in ('pending', 'processing', 'completed', 'failed'),
    char_length(suno_task_id) between 1 and 128];
begin
  if false = any (v_verdicts) then
    return public._music_raise_failed_check('music_generation_queue',
      array['attempts_range', 'callback_wait_unsubmitted', 'completed_fields',
            'error_code_length', 'error_message_length', 'failed_fields',
            'fallback_only_failed', 'lease_iff_processing', 'lease_owner_length',
            'pending_not_submitted', 'poll_counts_range', 'provider_status_length',
            'status_known', 'suno_task_id_length'],
      v_verdicts);
  end if;
  return true;
end
$$;

alter table public.music_generation_queue
  drop constraint music_generation_queue_attempts_range,
  drop constraint music_generation_queue_callback_wait_unsubmitted,
  drop constraint music_generation_queue_completed_fields,
  drop constraint music_generation_queue_error_code_length,
  drop constraint music_generation_queue_error_message_length,
  drop constraint music_generation_queue_failed_fields,
  drop constraint music_generation_queue_fallback_only_failed,
  drop constraint music_generation_queue_lease_iff_processing,
  drop constraint music_generation_queue_lease_owner_length,
  drop constraint music_generation_queue_pending_not_submitted,
  drop constraint music_generation_queue_poll_counts_range,
  drop constraint music_generation_queue_provider_status_length,
  drop constraint music_generation_queue_status_known,
  drop constraint music_generation_queue_suno_task_id_length,
  add constraint music_generation_queue_state_checks check (public._music_request_state_valid(
    status, attempts, max_attempts, lease_owner, lease_token, lease_expires_at, suno_task_id,
    provider_status, result, completed_at, failed_at, fallback_track_id, error_code,
    error_message, ambiguous_submits, poll_rereads, stuck_resubmits, callback_wait_until));

-- ---------------------------------------------------------------------------
-- A library track.
-- ---------------------------------------------------------------------------
create function public._music_track_valid(
  audio_url text,
  duration_seconds double precision,
  emotion text,
  image_url text,
  provider_clip_id text,
  source text,
  stream_audio_url text,
  tags text,
  title text
)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_verdicts boolean[] := array[
    audio_url ~ '^https?://' and char_length(audio_url) <= 2000,
    duration_seconds >= 0 and duration_seconds < 3600,
    emotion in ('joy', 'calm', 'sad', 'anger', 'anxious', 'energetic', 'neutral'),
    char_length(image_url) <= 2000,
    char_length(provider_clip_id) <= 128,
    source in ('library', 'generated'),
    char_length(stream_audio_url) <= 2000,
    char_length(tags) <= 1000,
    char_length(title) <= 200];
begin
  if false = any (v_verdicts) then
    return public._music_raise_failed_check('music_tracks',
      array['audio_url_format', 'duration_range', 'emotion_known', 'image_url_length',
            'provider_clip_id_length', 'source_known', 'stream_audio_url_length',
            'tags_length', 'title_length'],
      v_verdicts);
  end if;
  return true;
end
$$;

alter table public.music_tracks
  drop constraint music_tracks_audio_url_format,
  drop constraint music_tracks_duration_range,
  drop constraint music_tracks_emotion_known,
  drop constraint music_tracks_image_url_length,
  drop constraint music_tracks_provider_clip_id_length,
  drop constraint music_tracks_source_known,
  drop constraint music_tracks_stream_audio_url_length,
  drop constraint music_tracks_tags_length,
  drop constraint music_tracks_title_length,
  add constraint music_tracks_checks check (public._music_track_valid(
    audio_url, duration_seconds, emotion, image_url, provider_clip_id, source,
    stream_audio_url, tags, title));

-- ---------------------------------------------------------------------------
-- A history event.
-- ---------------------------------------------------------------------------
create function public._music_event_valid(
  actor text,
  detail jsonb,
  event text,
  status text
)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_verdicts boolean[] := array[
    char_length(actor) <= 200,
    jsonb_typeof(detail) = 'object',
    event in ('enqueued', 'claimed', 'submitted', 'progress', 'completed', 'retried',
              'deferred', 'failed', 'fallback', 'expired', 'admin_retried', 'cancelled',
              'awaiting_callback', 'resubmitted'),
    status in ('pending', 'processing', 'completed', 'failed')];
begin
  if false = any (v_verdicts) then
    return public._music_raise_failed_check('music_generation_events',
      array['actor_length', 'detail_object', 'event_known', 'status_known'],
      v_verdicts);
  end if;
  return true;
end
$$;

alter table public.music_generation_events
  drop constraint music_generation_events_actor_length,
  drop constraint music_generation_events_detail_object,
  drop constraint music_generation_events_event_known,
  drop constraint music_generation_events_status_known,
  add constraint music_generation_events_checks check (public._music_event_valid(
    actor, detail, event, status));

-- A CHECK runs its function as the user writing the row. Only the SQL API's
-- SECURITY DEFINER functions write these tables, as their owner, who keeps
-- EXECUTE; nobody else needs it.
revoke all on function
  public._music_raise_failed_check(text, text[], boolean[]),
  public._music_request_state_valid(text, integer, integer, text, uuid, timestamptz, text, text,
    jsonb, timestamptz, timestamptz, uuid, text, text, integer, integer, integer, timestamptz),
  public._music_track_valid(text, double precision, text, text, text, text, text, text, text),
  public._music_event_valid(text, jsonb, text, text)
  from public, anon, authenticated, service_role;
