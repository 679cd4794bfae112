-- Music generation queue: the worker's runs.
--
-- Every run of music-queue-worker (pg_cron, the admin panel, a recovery seen
-- by suno-status-check, a provider callback) is one row here: started when
-- the run begins, finished with its summary when it ends. The panel reads
-- them; maintenance marks a run that never finished (its function died) as
-- abandoned, and prunes old runs.
--
-- Overlapping runs are allowed. Nothing a run does needs to be alone: a
-- claim never hands a row to two callers (FOR UPDATE SKIP LOCKED), every
-- later transition checks the lease, and the provider's limit is the shared
-- token bucket (take_rate_token), not a run's own spacing. Refusing a run
-- while another is marked running would also let a dead run block the queue
-- until maintenance notices it.

-- ---------------------------------------------------------------------------
-- Runs. status: running -> finished | failed (the run ended with an error)
-- | abandoned (maintenance: still running long after any function could).
-- summary, as the worker's ?wait=true answer: claimed, submitted, completed,
-- retried, deferred, failed, fallbacks, skipped_reason, duration_ms.
-- ---------------------------------------------------------------------------
create table public.music_worker_runs (
  id uuid primary key default gen_random_uuid(),
  queue text not null default 'default' references public.music_queues (name),
  trigger text not null,
  worker_id text not null,
  status text not null default 'running',
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  summary jsonb,
  error text,
  constraint music_worker_runs_trigger_known check (trigger in ('cron', 'manual', 'recovery', 'callback')),
  constraint music_worker_runs_worker_id_length check (char_length(worker_id) between 1 and 200),
  constraint music_worker_runs_status_known check (status in ('running', 'finished', 'failed', 'abandoned')),
  constraint music_worker_runs_finished_fields check ((status = 'running') = (finished_at is null)),
  constraint music_worker_runs_summary_object check (jsonb_typeof(summary) = 'object'),
  constraint music_worker_runs_error_length check (char_length(error) <= 2000)
);

-- The panel's list, newest first; and the running ones, for maintenance.
create index music_worker_runs_started_idx on public.music_worker_runs (started_at desc);
create index music_worker_runs_running_idx on public.music_worker_runs (started_at)
  where status = 'running';

-- Starts a run: the row the worker finishes later with its id.
create function public.start_music_worker_run(
  p_trigger text,
  p_worker_id text,
  p_queue text default 'default'
)
returns public.music_worker_runs
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_run public.music_worker_runs;
begin
  if p_trigger is null or p_trigger not in ('cron', 'manual', 'recovery', 'callback') then
    perform public._music_bad_input('trigger', 'trigger must be cron, manual, recovery or callback');
  end if;
  if p_worker_id is null or char_length(p_worker_id) not between 1 and 200 then
    perform public._music_bad_input('worker_id', 'worker id must be 1 to 200 characters');
  end if;
  insert into public.music_worker_runs (queue, trigger, worker_id, started_at)
  values (p_queue, p_trigger, p_worker_id, clock_timestamp())
  returning * into v_run;
  return v_run;
exception when foreign_key_violation then
  raise exception using errcode = 'P0002', message = format('unknown queue %L', p_queue);
end
$$;

-- Finishes a running run with its summary (and its error, if the run ended
-- on one). Only a running run changes: a run that maintenance marked
-- abandoned, or one finished already, returns no row.
create function public.finish_music_worker_run(
  p_run_id uuid,
  p_summary jsonb,
  p_error text default null
)
returns setof public.music_worker_runs
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if p_summary is null or jsonb_typeof(p_summary) <> 'object' then
    perform public._music_bad_input('summary', 'summary must be a JSON object');
  end if;
  return query
  update public.music_worker_runs r
     set status = case when p_error is null then 'finished' else 'failed' end,
         finished_at = clock_timestamp(),
         summary = p_summary,
         error = left(p_error, 2000)
   where r.id = p_run_id
     and r.status = 'running'
  returning r.*;
end
$$;

-- Maintenance: a run still running after p_after_seconds (default 10 min;
-- the worker's budget is 50 s and a hosted function lives 400 s at most)
-- died with its function. Returns how many were marked.
create function public.abandon_music_worker_runs(p_after_seconds integer default 600)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  perform public._music_require_admin();
  update public.music_worker_runs r
     set status = 'abandoned',
         finished_at = clock_timestamp(),
         error = 'the run never finished (its function stopped)'
   where r.status = 'running'
     and r.started_at < clock_timestamp() - make_interval(secs => greatest(p_after_seconds, 60));
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

-- Maintenance: runs older than p_keep_days (default 30) are deleted.
create function public.prune_music_worker_runs(p_keep_days integer default 30)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  perform public._music_require_admin();
  delete from public.music_worker_runs r
   where r.started_at < now() - make_interval(days => greatest(p_keep_days, 1))
     and r.status <> 'running';
  get diagnostics v_count = row_count;
  return v_count;
end
$$;
