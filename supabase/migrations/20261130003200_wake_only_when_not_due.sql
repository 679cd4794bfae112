-- A callback for a request that is already due changes nothing, so it no
-- longer locks the row.
--
-- The provider sends each stage's callback, duplicates included, within
-- milliseconds of each other. Every wake_music_request was an UPDATE, which
-- holds the row's lock until it commits, and claim_music_polls skips locked
-- rows: the run that a `complete` callback started could find its request
-- locked by the wake of the next callback, claim nothing, and end; once the
-- callbacks stopped, the request waited for the next scheduled poll instead
-- of being stored at once (function_worker.rs saw it under load). A request
-- whose run_at has passed is due already: the wake now answers it as before
-- and leaves it alone. Same signature, so grants are kept.
create or replace function public.wake_music_request(p_request_id uuid, p_callback_token text)
returns setof public.music_generation_queue
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  return query
    with woken as (
      update public.music_generation_queue q
         set run_at = statement_timestamp(),
             updated_at = statement_timestamp()
       where q.id = p_request_id
         and q.status = 'processing'
         and q.suno_task_id is not null
         and q.run_at > statement_timestamp()
         and public._music_token_matches(p_callback_token, q.callback_token)
      returning q.*
    )
    select * from woken
    union all
    -- Due already (in the statement's snapshot, so never the row just woken).
    select q.*
      from public.music_generation_queue q
     where q.id = p_request_id
       and q.status = 'processing'
       and q.suno_task_id is not null
       and q.run_at <= statement_timestamp()
       and public._music_token_matches(p_callback_token, q.callback_token);
end
$$;
