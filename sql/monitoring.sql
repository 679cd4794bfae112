-- Monitoring queries for the music queue: run them one by one in the SQL
-- editor (or psql) as an operator. Nothing here changes data.
--
-- Read them in this order: are the jobs scheduled and running (1-3), did
-- their HTTP calls really succeed (4-5), is the queue healthy (6-9), is the
-- provider healthy (10-11).

-- 1. The scheduled jobs.
select jobid, jobname, schedule, active, username, database
  from cron.job
 where jobname in ('music-queue-worker-every-minute', 'suno-status-check-every-minute', 'music-queue-maintenance')
 order by jobname;

-- 2. Their latest runs. "succeeded" for an HTTP job only means pg_net queued
--    the request; the outcome is in net._http_response (4).
select j.jobname, d.runid, d.status, d.return_message, d.start_time, d.end_time,
       d.end_time - d.start_time as took
  from cron.job_run_details d
  join cron.job j using (jobid)
 where j.jobname like 'music-queue-%' or j.jobname like 'suno-status-%'
 order by d.start_time desc
 limit 30;

-- 3. Runs that failed in the last 24 h, per job.
select j.jobname, count(*) as failed_runs, max(d.start_time) as last_failure,
       (array_agg(d.return_message order by d.start_time desc))[1] as last_message
  from cron.job_run_details d
  join cron.job j using (jobid)
 where d.status = 'failed' and d.start_time > now() - interval '24 hours'
 group by j.jobname
 order by failed_runs desc;

-- 4. Real outcomes of the HTTP calls (kept about 6 h by pg_net): errors,
--    timeouts and non-2xx answers, newest first.
select id, created, status_code, timed_out, error_msg, left(content, 300) as content
  from net._http_response
 where error_msg is not null or timed_out or status_code is null or status_code >= 300
 order by created desc
 limit 50;

-- 5. HTTP outcomes per hour: how many calls, how many failed. pg_net before
--    0.19.6 leaves timed_out NULL on every failure, so a timeout is also
--    recognised by its error text (the same on every version).
select date_trunc('hour', created) as hour,
       count(*) as calls,
       count(*) filter (where status_code between 200 and 299) as ok,
       count(*) filter (where timed_out or error_msg like 'Timeout of%') as timed_out,
       count(*) filter (where error_msg is not null) as transport_errors,
       count(*) filter (where status_code >= 300) as http_errors
  from net._http_response
 group by 1
 order by 1 desc;

-- 6. Queue health: counts by queue and status, the oldest waiting request,
--    the pause state.
select q.queue, q.status, count(*) as requests,
       min(q.created_at) filter (where q.status = 'pending') as oldest_pending,
       now() - min(q.run_at) filter (where q.status = 'pending' and q.run_at <= now()) as longest_due_wait,
       mq.paused, mq.pause_reason
  from public.music_generation_queue q
  join public.music_queues mq on mq.name = q.queue
 where q.status in ('pending', 'processing')
 group by q.queue, q.status, mq.paused, mq.pause_reason
 order by q.queue, q.status;

-- 7. The admin panel's numbers (counts, success rates, mean processing
--    time, failures per hour, spikes).
select jsonb_pretty(public.music_queue_stats());

-- 8. Stuck requests:
--    a) claimed, never submitted, lease expired (the worker died mid-run;
--       the next claim takes them back, or expiry fails them);
--    b) submitted more than 15 minutes ago and still not finished;
--    c) pending, due, and not claimed for more than 10 minutes.
select 'claimed, lease expired' as problem, id, queue, user_id, attempts, max_attempts, lease_owner,
       lease_expires_at as since, suno_task_id
  from public.music_generation_queue
 where status = 'processing' and suno_task_id is null and lease_expires_at < now()
union all
select 'submitted > 15 min', id, queue, user_id, attempts, max_attempts, lease_owner, submitted_at, suno_task_id
  from public.music_generation_queue
 where status = 'processing' and suno_task_id is not null and submitted_at < now() - interval '15 minutes'
union all
select 'due, unclaimed > 10 min', id, queue, user_id, attempts, max_attempts, null, run_at, null
  from public.music_generation_queue
 where status = 'pending' and run_at < now() - interval '10 minutes'
 order by since
 limit 100;

-- 9. Failures of the last 24 h by reason, and how many got a fallback.
select error_code, count(*) as failed,
       count(fallback_track_id) as with_fallback,
       count(*) filter (where fallback_same_emotion = false) as fallback_other_emotion,
       max(failed_at) as last
  from public.music_generation_queue
 where status = 'failed' and failed_at > now() - interval '24 hours'
 group by error_code
 order by failed desc;

-- 10. Provider status now, and the submit budget.
select * from public.suno_api_status;
select name, capacity, window_seconds,
       (select count(*) from unnest(taken) t where t > clock_timestamp() - make_interval(secs => window_seconds)) as used_in_window
  from public.music_rate_limits;

-- 11. Provider checks per hour (last 24 h): availability and response time.
select date_trunc('hour', checked_at) as hour, count(*) as checks,
       count(*) filter (where not is_available) as failures,
       round(avg(response_time_ms)) as mean_ms,
       max(response_time_ms) as max_ms,
       (array_agg(state order by checked_at desc))[1] as last_state
  from public.suno_api_status_checks
 where checked_at > now() - interval '24 hours'
 group by 1
 order by 1 desc;

-- 12. The worker's runs (last 24 h), newest first: what started each one, how
-- long it took, what it did, and why it stopped early. A run still 'running'
-- after 10 minutes died with its function (maintenance marks it abandoned).
select started_at, trigger, status, worker_id,
       round(extract(epoch from (coalesce(finished_at, clock_timestamp()) - started_at))::numeric, 1) as seconds,
       summary ->> 'claimed' as claimed, summary ->> 'submitted' as submitted,
       summary ->> 'completed' as completed, summary ->> 'failed' as failed,
       summary ->> 'skipped_reason' as skipped_reason, error
  from public.music_worker_runs
 where started_at > now() - interval '24 hours'
 order by started_at desc
 limit 100;

-- 13. Alerts raised (last 7 days): the failure rate of an hour over 20 %.
select created_at, kind, queue, message, figures
  from public.music_alerts
 where created_at > now() - interval '7 days'
 order by created_at desc;

-- 14. Housekeeping done by music-queue-maintenance, on demand.
-- select public.music_queue_maintenance();
