-- The checks on what a request asks for run when that is written, not at
-- every step of the request's life.
--
-- PostgreSQL reads every CHECK of a table from its stored node text, and
-- prepares it, in each statement that writes a row, whatever columns the
-- statement sets: the queue's 26 checks, 27 kB of text, were read twice per
-- job (claim, completion), a fifth of the database's CPU per job. Twelve of
-- them guard what the request asks for (emotion, texts, model, priority,
-- attempts allowed, idempotency key), which only enqueueing, a submit (the
-- model) and an admin set. They move into one trigger with the same
-- conditions, names and error (23514, check_violation), which fires only for
-- a statement that sets one of those columns. The checks on the columns the
-- steps change (status, attempts, lease, task, result, errors) stay CHECK
-- constraints.

create function public._music_request_checks()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  -- Each check's name, and whether the new row passes it; like a CHECK's,
  -- a null verdict passes.
  v_names constant text[] := array[
    'emotion_known', 'intensity_range', 'context_length', 'asked_style_length',
    'asked_title_length', 'prompt_length', 'style_length', 'title_length',
    'model_format', 'priority_range', 'max_attempts_range', 'idempotency_key_length'];
  v_passes boolean[];
  v_name text;
begin
  v_passes := array[
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
  for i in 1 .. cardinality(v_names) loop
    if not coalesce(v_passes[i], true) then
      v_name := 'music_generation_queue_' || v_names[i];
      raise exception 'new row for relation "music_generation_queue" violates check constraint "%"', v_name
        using errcode = 'check_violation', schema = 'public',
              table = 'music_generation_queue', constraint = v_name;
    end if;
  end loop;
  return new;
end
$$;

-- A trigger function needs no EXECUTE grant to run; nobody calls it directly.
revoke all on function public._music_request_checks()
  from public, anon, authenticated, service_role;

create trigger music_generation_queue_request_checks
  before insert or update of emotion, intensity, context, asked_style, asked_title, prompt,
                             style, title, model, priority, max_attempts, idempotency_key
  on public.music_generation_queue
  for each row execute function public._music_request_checks();

alter table public.music_generation_queue
  drop constraint music_generation_queue_emotion_known,
  drop constraint music_generation_queue_intensity_range,
  drop constraint music_generation_queue_context_length,
  drop constraint music_generation_queue_asked_style_length,
  drop constraint music_generation_queue_asked_title_length,
  drop constraint music_generation_queue_prompt_length,
  drop constraint music_generation_queue_style_length,
  drop constraint music_generation_queue_title_length,
  drop constraint music_generation_queue_model_format,
  drop constraint music_generation_queue_priority_range,
  drop constraint music_generation_queue_max_attempts_range,
  drop constraint music_generation_queue_idempotency_key_length;
