-- A callback for a request that no longer waits for one.
--
-- The provider may send a final callback again minutes later, or a callback
-- of an older task after the request went back to the queue. Then neither
-- attach_music_task nor wake_music_request changes a row, and the callback
-- route could only answer 401, as to a wrong token: the provider would
-- retry a callback that was fine, and an operator would read of forged
-- callbacks that were not. This tells the route whether the token is the
-- request's own (compared in constant time), so it answers such a late
-- callback 200 and changes nothing. A wrong token stays 401, whatever the
-- request's state, so a stranger still learns nothing about which ids exist.
create function public.music_callback_token_matches(p_request_id uuid, p_callback_token text)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select from public.music_generation_queue q
     where q.id = p_request_id
       and public._music_token_matches(p_callback_token, q.callback_token))
$$;

revoke all on function public.music_callback_token_matches(uuid, text)
  from public, anon, authenticated, service_role;
grant execute on function public.music_callback_token_matches(uuid, text) to service_role;
