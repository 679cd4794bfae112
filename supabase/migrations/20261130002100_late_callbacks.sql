-- A callback for a request that is already finished.
--
-- The provider may send a final callback again minutes later. By then the
-- request is completed or failed, neither attach_music_task nor
-- wake_music_request changes a row, and the callback route could only answer
-- 401, as to a wrong token: the provider would retry a callback that was
-- fine, and an operator would read of forged callbacks that were not. This
-- tells the route that the token is the request's own (compared in constant
-- time) and the request finished, so it answers 200 and changes nothing.
--
-- Only a finished request: a callback that overtakes the worker (the task's
-- id not stored yet) must still be refused, so the provider tries it again.
-- A wrong token stays 401 whatever the request's state, so a stranger learns
-- nothing about which ids exist.
create function public.music_callback_is_late(p_request_id uuid, p_callback_token text)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select from public.music_generation_queue q
     where q.id = p_request_id
       and q.status in ('completed', 'failed')
       and public._music_token_matches(p_callback_token, q.callback_token))
$$;

revoke all on function public.music_callback_is_late(uuid, text)
  from public, anon, authenticated, service_role;
grant execute on function public.music_callback_is_late(uuid, text) to service_role;
