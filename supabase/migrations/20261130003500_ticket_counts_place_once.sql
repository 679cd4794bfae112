-- Enqueue's answer counts the request's place once instead of three times.
--
-- The answer uses the place three times (the position, whether it is
-- capped, the wait). A CTE named once in FROM is folded into the outer
-- query, and its column, a subquery counting up to 999 waiting rows, was
-- copied into each of those expressions and run for each: three counts per
-- enqueue, each up to 999 index entries. MATERIALIZED keeps it one count.
-- With 20,000 waiting requests, 4 connections enqueued 1,005-1,164 requests
-- a second before and 1,404-1,440 after.
--
-- Otherwise _music_ticket as in 20261130003400_hot_claims.sql.

create or replace function public._music_ticket(p_row public.music_generation_queue, p_deduplicated boolean)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
  return (
  with place as materialized (
    select case when p_row.status = 'pending' then (
      select count(*) + 1
        from (select
                from public.music_generation_queue q
               where q.queue = p_row.queue
                 and q.status = 'pending'
                 and q.suno_task_id is null and q.completed_at is null and q.failed_at is null
                 and (q.priority, q.queued_at, q.id) < (p_row.priority, p_row.queued_at, p_row.id)
               limit 999) ahead
    ) end as n
  ), generation as (
    select coalesce(avg(extract(epoch from r.completed_at - r.submitted_at)), 150) as seconds
      from (select q.completed_at, q.submitted_at
              from public.music_generation_queue q
             where q.queue = p_row.queue and q.completed_at is not null
             order by q.completed_at desc
             limit 50) r
  )
  select (to_jsonb(p_row) - 'callback_token' - 'lease_token')
         || jsonb_build_object(
              'deduplicated', p_deduplicated,
              'queue_position', place.n,
              'queue_position_capped', coalesce(place.n >= 1000, false),
              'estimated_wait_seconds', case
                when p_row.status = 'pending' then ceil(
                  greatest(extract(epoch from p_row.run_at - statement_timestamp()), 0)
                  + ceil(place.n::numeric / mq.batch_size) * mq.run_interval_seconds
                  + generation.seconds)::integer
                when p_row.status = 'processing' then ceil(generation.seconds)::integer
                else 0
              end)
    from place, generation, public.music_queues mq
   where mq.name = p_row.queue);
end
$$;
