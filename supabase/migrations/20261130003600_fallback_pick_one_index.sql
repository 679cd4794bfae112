-- The fallback pick reads one index, so a fallback-eligible track costs one
-- index entry fewer to write.
--
-- A track of any emotion was picked from its own index on id
-- (music_tracks_fallback_any_idx), which every fallback-eligible track
-- entered besides the index on (emotion, id). The smallest usable id at or
-- after the pivot, of any emotion, is the smallest of each emotion's own:
-- one probe per emotion on the (emotion, id) index finds it, and a track's
-- emotion is one of seven (its emotion_known check). That branch runs only
-- when the asked emotion has no usable track, so its seven probes cost less
-- than an index written on every eligible completion.
--
-- Otherwise _music_pick_fallback as in 20261129000200_queue_transitions.sql:
-- a random usable track of the emotion if there is one, else of any
-- emotion, else nothing.

create or replace function public._music_pick_fallback(p_emotion text)
returns table (track_id uuid, same_emotion boolean)
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_pivot uuid := gen_random_uuid();
  v_usable_after timestamptz := statement_timestamp() + interval '7 days';
  v_emotions text[] := array['joy', 'calm', 'sad', 'anger', 'anxious', 'energetic', 'neutral'];
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
      (select f.id, f.emotion
         from unnest(v_emotions) e (emotion)
        cross join lateral (
          select t.id, t.emotion from public.music_tracks t
           where t.fallback_eligible and t.emotion = e.emotion and t.id >= v_pivot
             and (t.expires_at is null or t.expires_at > v_usable_after)
           order by t.id limit 1) f
        order by f.id limit 1)
      union all
      (select f.id, f.emotion
         from unnest(v_emotions) e (emotion)
        cross join lateral (
          select t.id, t.emotion from public.music_tracks t
           where t.fallback_eligible and t.emotion = e.emotion
             and (t.expires_at is null or t.expires_at > v_usable_after)
           order by t.id limit 1) f
        order by f.id limit 1)
    ) u
   limit 1;
end
$$;

drop index public.music_tracks_fallback_any_idx;
