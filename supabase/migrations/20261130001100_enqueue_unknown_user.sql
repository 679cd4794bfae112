-- enqueue: a JWT whose user is gone is refused as a credential, not a conflict.
--
-- A user JWT stays valid until it expires (an hour on hosted) after the user
-- is deleted. emotion-music-ai enqueues for the JWT's `sub`; before this
-- migration the insert then hit the foreign key to auth.users, which
-- PostgREST answers 409 naming the constraint. Now the enqueue looks the
-- user up first and raises PT401 (PostgREST answers 401): sign in again.
-- Same signature, same grants; only that check is new.
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
