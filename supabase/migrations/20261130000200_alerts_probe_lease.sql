-- Music generation queue: failure-rate alerts, and the single-flight lease of
-- the provider probe.

create extension if not exists btree_gist with schema extensions;

-- ---------------------------------------------------------------------------
-- Alerts: one row per alert raised. A kind raises at most one alert per queue
-- per hour: each row keeps its kind quiet until quiet_until, and the
-- exclusion constraint refuses an overlapping row, so two workers finishing
-- at the same moment cannot both raise (and both post) the same alert.
-- ---------------------------------------------------------------------------
create table public.music_alerts (
  id bigint generated always as identity primary key,
  kind text not null,
  queue text not null references public.music_queues (name),
  message text not null,
  figures jsonb not null,
  created_at timestamptz not null default clock_timestamp(),
  quiet_until timestamptz not null,
  constraint music_alerts_kind_known check (kind in ('failure_rate')),
  constraint music_alerts_message_length check (char_length(message) between 1 and 2000),
  constraint music_alerts_figures_object check (jsonb_typeof(figures) = 'object'),
  constraint music_alerts_quiet_after_created check (quiet_until > created_at),
  constraint music_alerts_one_per_quiet_time
    exclude using gist (kind with =, queue with =, tstzrange(created_at, quiet_until) with &&)
);

create index music_alerts_created_idx on public.music_alerts (created_at desc);

-- ---------------------------------------------------------------------------
-- Raises the failure-rate alert when it is due: over the last hour, at least
-- 5 requests finished and more than 20 % of them failed (the rule of the
-- statistics' spike, music_queue_stats, on the hour instead of the day).
-- An admin's cancellation is not a failure and not counted. One statement:
-- the figures, the test and the insert; a kind already raised within the hour
-- conflicts and inserts nothing. Returns the new alert, or no row (not due,
-- or raised already): the caller posts to ALERT_WEBHOOK_URL only on a row.
-- Both counts come from the partial indexes of finished rows.
-- ---------------------------------------------------------------------------
create function public.record_music_alert_if_due(p_queue text default 'default')
returns setof public.music_alerts
language sql
volatile
security definer
set search_path = ''
as $$
  with hour as (
    select (select count(*)
              from public.music_generation_queue q
             where q.queue = p_queue and q.status = 'completed'
               and q.completed_at > now() - interval '1 hour') as completed,
           (select count(*)
              from public.music_generation_queue q
             where q.queue = p_queue and q.status = 'failed'
               and q.failed_at > now() - interval '1 hour'
               and q.error_code is distinct from 'cancelled') as failed
  ),
  due as (
    select h.completed, h.failed, h.completed + h.failed as finished,
           round(h.failed::numeric / (h.completed + h.failed), 4) as failure_rate
      from hour h
     where h.completed + h.failed >= 5
       and h.failed::numeric / nullif(h.completed + h.failed, 0) > 0.2
  )
  insert into public.music_alerts (kind, queue, message, figures, created_at, quiet_until)
  select 'failure_rate', p_queue,
         format('%s of the %s requests finished in the last hour failed (%s %%)',
                d.failed, d.finished, round(d.failure_rate * 100, 1)),
         jsonb_build_object('window_minutes', 60, 'finished', d.finished, 'completed', d.completed,
                            'failed', d.failed, 'failure_rate', d.failure_rate, 'threshold', 0.2,
                            'min_finished', 5),
         clock_timestamp(), clock_timestamp() + interval '1 hour'
    from due d
  on conflict do nothing
  returning *
$$;

-- Maintenance: alerts older than p_keep_days (default 90) are deleted.
create function public.prune_music_alerts(p_keep_days integer default 90)
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
  delete from public.music_alerts a
   where a.created_at < now() - make_interval(days => greatest(p_keep_days, 1));
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

-- ---------------------------------------------------------------------------
-- The probe lease: at most one provider probe in flight across every caller
-- of suno-status-check. A caller probes only after winning the lease; the
-- lease ends when its TTL runs out (the prober died) or when a check is
-- recorded after it was taken (record_suno_status_check sets last_check_at):
-- from then on the status is fresh, which is all the lease protects.
-- ---------------------------------------------------------------------------
alter table public.suno_api_status
  add column probe_leased_at timestamptz,
  add column probe_lease_until timestamptz,
  add constraint suno_api_status_probe_lease_fields
    check ((probe_leased_at is null) = (probe_lease_until is null)
           and (probe_lease_until is null or probe_lease_until > probe_leased_at));

-- Takes the lease for p_ttl_seconds (default 15: the probe's own timeout is
-- shorter). With p_if_older_than_seconds, only while the stored status is
-- still older than that: a caller that read a stale status just before
-- another caller's probe was recorded then does not probe again. One UPDATE
-- decides: concurrent takers queue on the row lock and re-check the
-- condition against the winner's row. Returns whether the caller won.
create function public.take_suno_probe_lease(
  p_ttl_seconds integer default 15,
  p_if_older_than_seconds integer default null
)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if p_ttl_seconds is null or p_ttl_seconds not between 1 and 300 then
    perform public._music_bad_input('ttl_seconds', 'ttl_seconds must be from 1 to 300');
  end if;
  if p_if_older_than_seconds < 0 then
    perform public._music_bad_input('if_older_than_seconds', 'if_older_than_seconds must not be negative');
  end if;
  update public.suno_api_status s
     set probe_leased_at = clock_timestamp(),
         probe_lease_until = clock_timestamp() + make_interval(secs => p_ttl_seconds)
   where s.id
     and (s.probe_lease_until is null
          or s.probe_lease_until <= clock_timestamp()
          or s.last_check_at >= s.probe_leased_at)
     and (p_if_older_than_seconds is null
          or s.last_check_at is null
          or s.last_check_at < clock_timestamp() - make_interval(secs => p_if_older_than_seconds));
  return found;
end
$$;

-- ---------------------------------------------------------------------------
-- Maintenance, as before, with the runs and alerts of this migration.
-- ---------------------------------------------------------------------------
create or replace function public.music_queue_maintenance()
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
    'pruned', public.prune_music_queue_logs(),
    'abandoned_runs', public.abandon_music_worker_runs(),
    'pruned_runs', public.prune_music_worker_runs(),
    'pruned_alerts', public.prune_music_alerts());
end
$$;
