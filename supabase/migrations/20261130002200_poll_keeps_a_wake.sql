-- A read in flight no longer undoes a callback's wake-up.
--
-- claim_music_polls hands a task to one reader and moves its run_at 20 s
-- on. If the provider's callback wakes the request while that read is in
-- flight (wake_music_request: run_at back to now), the read's own
-- schedule_music_poll then pushed run_at out again, so the run the callback
-- started found nothing due, and a finished task waited for the next poll
-- instead of being stored within seconds (function_worker.rs's callback
-- tests saw it under load). A row already due again when the read is
-- scheduled was woken during the read (or the read outlived its 20 s):
-- it stays due. Same signature, so grants are kept.
create or replace function public.schedule_music_poll(
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
       set run_at = case when q.run_at <= statement_timestamp() then q.run_at
                         else statement_timestamp() + make_interval(secs => p_next_poll_seconds) end,
           poll_rereads = q.poll_rereads + case when coalesce(p_reread, false) then 1 else 0 end,
           updated_at = statement_timestamp()
     where q.id = p_request_id
       and q.status = 'processing'
       and q.lease_token = p_lease_token
       and q.suno_task_id is not null
    returning q.*;
end
$$;
