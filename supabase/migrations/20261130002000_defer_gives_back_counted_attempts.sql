-- defer gives back only an attempt its claim counted.
--
-- A deferral (rate limited, maintenance, a run out of time) hands a claimed
-- request back without using an attempt, by giving back the one its claim
-- counted. But the claim that resubmits after a lost answer counts none
-- (claim_music_requests: `resubmit_after_lost_answer`), and giving one back
-- there handed the request an attempt it never had: a lost answer followed
-- by a 430 let it be paid for once more than max_attempts allows (found
-- while writing the deferral check of tests/tests/fault_flapping_provider.rs;
-- shown by tests/tests/queue_lost_answer_attempts.rs).
--
-- Whether the current claim counted is in its own `claimed` event, written by
-- the same statement as the claim; the latest one is the claim that holds
-- the lease. Same signature, so grants are kept.
create or replace function public.defer_music_request(
  p_request_id uuid,
  p_lease_token uuid,
  p_delay_seconds integer,
  p_reason text default 'rate_limited'
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
      select q.id, q.lease_owner,
             coalesce((select e.detail ? 'resubmit_after_lost_answer'
                         from public.music_generation_events e
                        where e.request_id = q.id and e.event = 'claimed'
                        order by e.id desc
                        limit 1), false) as uncounted
        from public.music_generation_queue q
       where q.id = p_request_id
         and q.status = 'processing'
         and q.lease_token = p_lease_token
         and q.suno_task_id is null
         for update
    ), done as (
      update public.music_generation_queue q
         set status = 'pending',
             attempts = case when t.uncounted then q.attempts else greatest(q.attempts - 1, 0) end,
             run_at = statement_timestamp() + make_interval(secs => greatest(coalesce(p_delay_seconds, 0), 0)),
             provider_status = null,
             callback_wait_until = null,
             lease_owner = null,
             lease_token = null,
             lease_expires_at = null,
             updated_at = statement_timestamp()
        from target t
       where q.id = t.id
      returning q.*
    ), logged as (
      insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, detail)
      select d.id, d.user_id, 'deferred', d.status, d.attempts, t.lease_owner,
             jsonb_build_object('reason', left(p_reason, 200), 'delay_seconds', p_delay_seconds,
                                'run_at', d.run_at)
        from done d
        join target t on t.id = d.id
    )
    select * from done;
end
$$;
