-- Music generation queue: statistics for the admin panel, and maintenance
-- (expiry of abandoned claims, daily roll-up, pruning of logs).
--
-- Cost. Statistics never scan the whole table: waiting and running rows
-- come from small partial indexes, the last 24 h from range scans of the
-- finished-row indexes, and the all-time totals from music_queue_daily_totals
-- (finished rows of past days, summed once per day by
-- music_queue_maintenance) plus a range scan of the rows finished since the
-- horizon (at most 25 hours). Until the first roll-up the horizon is -infinity and the range
-- scan covers everything, so the numbers are the same either way.

-- ---------------------------------------------------------------------------
-- roll-up: sums rows finished between the old horizon and the last UTC
-- midnight into music_queue_daily_totals, per queue and day, and moves the
-- horizon there; it waits until the new day is an hour old, so nothing can
-- still be finishing behind the horizon. The live part of the statistics is
-- then at most 25 hours of rows. Locks the horizon row, so roll-ups run one
-- at a time and admin retries (which share-lock it) see a settled horizon.
-- Returns the number of (queue, day) rows written.
-- ---------------------------------------------------------------------------
create function public.rollup_music_queue_stats()
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_old timestamptz;
  v_new timestamptz;
  v_rows integer;
begin
  perform public._music_require_admin();
  select horizon into v_old from public.music_queue_stats_horizon for update;
  v_new := date_trunc('day', (now() - interval '1 hour') at time zone 'UTC') at time zone 'UTC';
  if v_new <= v_old then
    return 0;
  end if;

  insert into public.music_queue_daily_totals as d
    (queue, day, completed, failed, cancelled, processing_seconds_sum, processing_count, total_seconds_sum)
  select f.queue, f.day, sum(f.completed), sum(f.failed), sum(f.cancelled), sum(f.seconds), sum(f.timed),
         sum(f.total_seconds)
    from public.music_queues mq
   cross join lateral (
     select q.queue, (q.completed_at at time zone 'UTC')::date as day, 1 as completed, 0 as failed,
            0 as cancelled,
            coalesce(extract(epoch from q.completed_at - q.submitted_at), 0) as seconds,
            (q.submitted_at is not null)::integer as timed,
            extract(epoch from q.completed_at - q.created_at) as total_seconds
       from public.music_generation_queue q
      where q.queue = mq.name and q.status = 'completed'
        and q.completed_at >= v_old and q.completed_at < v_new
     union all
     select q.queue, (q.failed_at at time zone 'UTC')::date, 0,
            (q.error_code is distinct from 'cancelled')::integer, (q.error_code = 'cancelled')::integer,
            0, 0, 0
       from public.music_generation_queue q
      where q.queue = mq.name and q.status = 'failed'
        and q.failed_at >= v_old and q.failed_at < v_new
   ) f
   group by f.queue, f.day
  on conflict (queue, day) do update
     set completed = d.completed + excluded.completed,
         failed = d.failed + excluded.failed,
         cancelled = d.cancelled + excluded.cancelled,
         processing_seconds_sum = d.processing_seconds_sum + excluded.processing_seconds_sum,
         processing_count = d.processing_count + excluded.processing_count,
         total_seconds_sum = d.total_seconds_sum + excluded.total_seconds_sum;
  get diagnostics v_rows = row_count;

  -- The WHERE names the single row: hosted API sessions refuse an UPDATE
  -- without one (safeupdate), and this runs through /rest/v1/rpc.
  update public.music_queue_stats_horizon set horizon = v_new, updated_at = now() where id;
  return v_rows;
end
$$;

-- ---------------------------------------------------------------------------
-- statistics of one queue (p_queue) or all of them (null), as JSON:
--   counts: pending, processing, completed, failed, cancelled, total
--     (current status; an admin's cancellation is a failed row with
--     error_code 'cancelled', counted as cancelled and never as failed)
--   last_24h / all_time: completed, failed, cancelled, success_rate
--     (completed over completed + failed, null when there is neither),
--     mean_seconds_created_to_completed (what the user waited) and
--     mean_seconds_submitted_to_completed (what the provider took)
--   failures_per_hour: 24 rolling hours, newest last ({hours_ago, hour_start,
--     hour_end, failed, spike})
--   spike: detected, median_failures_per_hour, spike_hours, failure_rate_24h,
--     reasons. An hour spikes when it has at least 3 failures and more than
--     twice the median hour; the day spikes when more than 20 % of at least 5
--     finished requests failed.
-- Admins and the service role only.
-- ---------------------------------------------------------------------------
create function public.music_queue_stats(p_queue text default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := now();
  v_since timestamptz := now() - interval '24 hours';
  v_queues text[];
  v_horizon timestamptz;
  v_pending bigint;
  v_processing bigint;
  v_live record;
  v_day record;
  v_rolled record;
  v_hours jsonb;
  v_median double precision;
  v_spike_hours integer;
  v_rate double precision;
  v_reasons jsonb := '[]';
  v_paused boolean;
begin
  perform public._music_require_admin();

  select coalesce(array_agg(name), '{}'), bool_or(paused)
    into v_queues, v_paused
    from public.music_queues
   where p_queue is null or name = p_queue;
  select horizon into v_horizon from public.music_queue_stats_horizon;

  select count(*) into v_pending
    from public.music_generation_queue q
   where q.queue = any (v_queues) and q.status = 'pending';
  select count(*) into v_processing
    from public.music_generation_queue q
   where q.queue = any (v_queues) and q.status = 'processing';

  -- Finished since the horizon (the live part of the all-time totals) and
  -- in the last 24 h, which may reach back past the horizon: one range scan
  -- from the earlier of the two.
  select count(*) filter (where c.completed_at >= v_horizon) as completed,
         count(*) filter (where c.completed_at > v_since) as completed_24h,
         sum(extract(epoch from c.completed_at - c.submitted_at)) filter (where c.completed_at >= v_horizon) as seconds,
         count(c.submitted_at) filter (where c.completed_at >= v_horizon) as timed,
         sum(extract(epoch from c.completed_at - c.submitted_at)) filter (where c.completed_at > v_since) as seconds_24h,
         count(c.submitted_at) filter (where c.completed_at > v_since) as timed_24h,
         sum(extract(epoch from c.completed_at - c.created_at)) filter (where c.completed_at >= v_horizon) as total_seconds,
         sum(extract(epoch from c.completed_at - c.created_at)) filter (where c.completed_at > v_since) as total_seconds_24h
    into v_live
    from public.music_generation_queue c
   where c.queue = any (v_queues) and c.status = 'completed'
     and c.completed_at >= least(v_horizon, v_since);

  select count(*) filter (where f.failed_at >= v_horizon and not f.cancelled) as failed,
         count(*) filter (where f.failed_at > v_since and not f.cancelled) as failed_24h,
         count(*) filter (where f.failed_at >= v_horizon and f.cancelled) as cancelled,
         count(*) filter (where f.failed_at > v_since and f.cancelled) as cancelled_24h
    into v_day
    from (select q.failed_at, coalesce(q.error_code = 'cancelled', false) as cancelled
            from public.music_generation_queue q
           where q.queue = any (v_queues) and q.status = 'failed'
             and q.failed_at >= least(v_horizon, v_since)) f;

  select coalesce(sum(completed), 0) as completed, coalesce(sum(failed), 0) as failed,
         coalesce(sum(cancelled), 0) as cancelled,
         coalesce(sum(processing_seconds_sum), 0) as seconds, coalesce(sum(processing_count), 0) as timed,
         coalesce(sum(total_seconds_sum), 0) as total_seconds
    into v_rolled
    from public.music_queue_daily_totals
   where queue = any (v_queues);

  -- Failures per rolling hour: bucket h holds (now - h - 1 hours, now - h hours].
  with failures as (
    select f.failed_at
      from public.music_generation_queue f
     where f.queue = any (v_queues) and f.status = 'failed' and f.failed_at > v_since
       and f.error_code is distinct from 'cancelled'
  ), hours as (
    select h.n as hours_ago, count(f.failed_at) as failed
      from generate_series(0, 23) as h(n)
      left join failures f
        on f.failed_at > v_now - make_interval(hours => h.n + 1)
       and f.failed_at <= v_now - make_interval(hours => h.n)
     group by h.n
  ), median as (
    select percentile_cont(0.5) within group (order by failed) as m from hours
  )
  select jsonb_agg(jsonb_build_object(
           'hours_ago', hours.hours_ago,
           'hour_start', v_now - make_interval(hours => hours.hours_ago + 1),
           'hour_end', v_now - make_interval(hours => hours.hours_ago),
           'failed', hours.failed,
           'spike', hours.failed >= 3 and hours.failed > 2 * median.m)
         order by hours.hours_ago desc),
         max(median.m),
         count(*) filter (where hours.failed >= 3 and hours.failed > 2 * median.m)
    into v_hours, v_median, v_spike_hours
    from hours, median;

  v_rate := case when v_live.completed_24h + v_day.failed_24h > 0
                 then v_day.failed_24h::double precision / (v_live.completed_24h + v_day.failed_24h) end;
  if v_spike_hours > 0 then
    v_reasons := v_reasons || jsonb_build_array(format('%s hour(s) with more than twice the median failures', v_spike_hours));
  end if;
  if v_rate > 0.2 and v_live.completed_24h + v_day.failed_24h >= 5 then
    v_reasons := v_reasons || jsonb_build_array(format('%s%% of requests failed in the last 24 h', round((v_rate * 100)::numeric, 1)));
  end if;

  return jsonb_build_object(
    'queue', p_queue,
    'paused', coalesce(v_paused, false),
    'generated_at', v_now,
    'counts', jsonb_build_object(
      'pending', v_pending,
      'processing', v_processing,
      'completed', v_live.completed + v_rolled.completed,
      'failed', v_day.failed + v_rolled.failed,
      'cancelled', v_day.cancelled + v_rolled.cancelled,
      'total', v_pending + v_processing + v_live.completed + v_rolled.completed + v_day.failed + v_rolled.failed
               + v_day.cancelled + v_rolled.cancelled),
    'last_24h', jsonb_build_object(
      'completed', v_live.completed_24h,
      'failed', v_day.failed_24h,
      'cancelled', v_day.cancelled_24h,
      'success_rate', case when v_live.completed_24h + v_day.failed_24h > 0
                           then v_live.completed_24h::double precision / (v_live.completed_24h + v_day.failed_24h) end,
      'mean_seconds_created_to_completed', case when v_live.completed_24h > 0
                                                then v_live.total_seconds_24h / v_live.completed_24h end,
      'mean_seconds_submitted_to_completed', case when v_live.timed_24h > 0
                                                  then v_live.seconds_24h / v_live.timed_24h end),
    'all_time', jsonb_build_object(
      'completed', v_live.completed + v_rolled.completed,
      'failed', v_day.failed + v_rolled.failed,
      'cancelled', v_day.cancelled + v_rolled.cancelled,
      'success_rate', case when v_live.completed + v_rolled.completed + v_day.failed + v_rolled.failed > 0
                           then (v_live.completed + v_rolled.completed)::double precision
                                / (v_live.completed + v_rolled.completed + v_day.failed + v_rolled.failed) end,
      'mean_seconds_created_to_completed', case when v_live.completed + v_rolled.completed > 0
                                                then (coalesce(v_live.total_seconds, 0) + v_rolled.total_seconds)
                                                     / (v_live.completed + v_rolled.completed) end,
      'mean_seconds_submitted_to_completed', case when v_live.timed + v_rolled.timed > 0
                                                  then (coalesce(v_live.seconds, 0) + v_rolled.seconds)
                                                       / (v_live.timed + v_rolled.timed) end),
    'failures_per_hour', v_hours,
    'spike', jsonb_build_object(
      'detected', jsonb_array_length(v_reasons) > 0,
      'median_failures_per_hour', v_median,
      'spike_hours', v_spike_hours,
      'failure_rate_24h', v_rate,
      'reasons', v_reasons));
end
$$;

-- ---------------------------------------------------------------------------
-- time series for charts: one row per clock hour of the last p_hours (the
-- current hour last): requests enqueued, completed, failed and cancelled by
-- an admin (apart from failed), mean processing time (submit to complete),
-- and the provider checks (count, failures, mean response
-- time). Admins and the service role only.
-- ---------------------------------------------------------------------------
create function public.music_queue_timeseries(p_hours integer default 24, p_queue text default null)
returns table (
  bucket_start timestamptz,
  enqueued bigint,
  completed bigint,
  failed bigint,
  cancelled bigint,
  mean_processing_seconds double precision,
  checks bigint,
  check_failures bigint,
  mean_response_ms double precision
)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_queues text[];
  v_first timestamptz := date_trunc('hour', now()) - make_interval(hours => least(greatest(p_hours, 1), 24 * 31) - 1);
begin
  perform public._music_require_admin();
  select coalesce(array_agg(name), '{}') into v_queues
    from public.music_queues where p_queue is null or name = p_queue;

  return query
  with buckets as (
    select b as s, b + interval '1 hour' as e
      from generate_series(v_first, date_trunc('hour', now()), interval '1 hour') b
  )
  select bk.s,
         (select count(*) from public.music_generation_queue q
           where q.created_at >= bk.s and q.created_at < bk.e and q.queue = any (v_queues)),
         (select count(*) from public.music_generation_queue q
           where q.queue = any (v_queues) and q.status = 'completed'
             and q.completed_at >= bk.s and q.completed_at < bk.e),
         (select count(*) from public.music_generation_queue q
           where q.queue = any (v_queues) and q.status = 'failed'
             and q.failed_at >= bk.s and q.failed_at < bk.e
             and q.error_code is distinct from 'cancelled'),
         (select count(*) from public.music_generation_queue q
           where q.queue = any (v_queues) and q.status = 'failed'
             and q.failed_at >= bk.s and q.failed_at < bk.e
             and q.error_code = 'cancelled'),
         (select avg(extract(epoch from q.completed_at - q.submitted_at))::double precision
            from public.music_generation_queue q
           where q.queue = any (v_queues) and q.status = 'completed'
             and q.completed_at >= bk.s and q.completed_at < bk.e),
         c.n, c.failures, c.response
    from buckets bk
   cross join lateral (
     select count(*) as n,
            count(*) filter (where not ch.is_available) as failures,
            avg(ch.response_time_ms)::double precision as response
       from public.suno_api_status_checks ch
      where ch.checked_at >= bk.s and ch.checked_at < bk.e
   ) c
   order by bk.s;
end
$$;

-- ---------------------------------------------------------------------------
-- pruning: provider check history older than p_check_days, pg_net responses
-- older than p_net_hours and pg_cron run details older than p_cron_days
-- (neither is pruned by its extension's own means here). Each part is
-- skipped when its table is missing or not ours to delete from. Returns the
-- rows deleted per table.
-- ---------------------------------------------------------------------------
create function public.prune_music_queue_logs(
  p_check_days integer default 7,
  p_net_hours integer default 24,
  p_cron_days integer default 7
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_checks bigint;
  v_net bigint;
  v_cron bigint;
begin
  perform public._music_require_admin();

  delete from public.suno_api_status_checks
   where checked_at < now() - make_interval(days => greatest(p_check_days, 1));
  get diagnostics v_checks = row_count;

  if to_regclass('net._http_response') is not null then
    begin
      execute 'delete from net._http_response where created < $1'
        using now() - make_interval(hours => greatest(p_net_hours, 1));
      get diagnostics v_net = row_count;
    exception when insufficient_privilege then
      v_net := null;
    end;
  end if;

  if to_regclass('cron.job_run_details') is not null then
    begin
      execute 'delete from cron.job_run_details where end_time < $1'
        using now() - make_interval(days => greatest(p_cron_days, 1));
      get diagnostics v_cron = row_count;
    exception when insufficient_privilege then
      v_cron := null;
    end;
  end if;

  return jsonb_build_object('suno_api_status_checks', v_checks,
                            'net_http_response', v_net,
                            'cron_job_run_details', v_cron);
end
$$;

-- ---------------------------------------------------------------------------
-- task timeout: a submitted task still unfinished task_timeout_seconds (of
-- its queue) after its submit fails with error_code task_timeout and a
-- fallback track, whatever the poller does or fails to do. Without this a
-- task the provider never finishes would hold its row, and one of its
-- user's slots, for ever. Returns how many it failed.
-- ---------------------------------------------------------------------------
create function public.time_out_music_tasks(p_queue text default null)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  with target as materialized (
    select q.id, q.emotion, q.lease_owner, q.submitted_at
      from public.music_generation_queue q
      join public.music_queues mq on mq.name = q.queue
     where (p_queue is null or q.queue = p_queue)
       and q.status = 'processing'
       and q.suno_task_id is not null
       and q.submitted_at < statement_timestamp() - make_interval(secs => mq.task_timeout_seconds)
       for update of q skip locked
  ), pick as (
    select t.id, f.track_id, f.same_emotion
      from target t
     cross join lateral public._music_pick_fallback(t.emotion) f
  ), done as (
    update public.music_generation_queue q
       set status = 'failed',
           failed_at = statement_timestamp(),
           error_code = 'task_timeout',
           error_message = 'The provider did not finish the task in time.',
           fallback_track_id = p.track_id,
           fallback_same_emotion = p.same_emotion,
           lease_owner = null,
           lease_token = null,
           lease_expires_at = null,
           updated_at = statement_timestamp()
      from target t
      left join pick p on p.id = t.id
     where q.id = t.id
    returning q.*
  ), logged as (
    insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, detail)
    select d.id, d.user_id, e.event, d.status, d.attempts, public._music_actor(), e.detail
      from done d
      join target t on t.id = d.id
     cross join lateral (values
       ('failed', jsonb_build_object('error_code', d.error_code, 'suno_task_id', d.suno_task_id,
                                     'submitted_at', t.submitted_at, 'lease_owner', t.lease_owner,
                                     'fallback_track_id', d.fallback_track_id)),
       ('fallback', jsonb_build_object('track_id', d.fallback_track_id,
                                       'same_emotion', d.fallback_same_emotion))
     ) e (event, detail)
     where e.event <> 'fallback' or d.fallback_track_id is not null
  )
  select count(*)::integer into v_count from done;
  return v_count;
end
$$;

-- ---------------------------------------------------------------------------
-- retire fallbacks: generated tracks whose files expire within a week can no
-- longer be handed out (_music_pick_fallback skips them); taking them out of
-- the fallback indexes keeps the pick from walking over them. Returns how
-- many it retired.
-- ---------------------------------------------------------------------------
create function public.retire_expiring_fallback_tracks()
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  update public.music_tracks t
     set fallback_eligible = false
   where t.fallback_eligible
     and t.expires_at <= statement_timestamp() + interval '7 days';
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

-- ---------------------------------------------------------------------------
-- maintenance (pg_cron, every few minutes): fail abandoned claims that have
-- no attempt left and tasks past their timeout, retire expiring fallback
-- tracks, roll up the statistics, prune the logs.
-- ---------------------------------------------------------------------------
create function public.music_queue_maintenance()
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform public._music_require_admin();
  return jsonb_build_object(
    'expired', public.expire_music_requests(),
    'timed_out', public.time_out_music_tasks(),
    'retired_fallbacks', public.retire_expiring_fallback_tracks(),
    'rolled_up_days', public.rollup_music_queue_stats(),
    'pruned', public.prune_music_queue_logs());
end
$$;
