-- Row-level security and grants for the worker's runs, the alerts, the per-run
-- cap and the probe lease (20261130000100, 20261130000200), in the manner of
-- 20261129000500_queue_rls_grants.sql: read-only tables filtered by RLS,
-- every write through a function, each function granted to its callers only.

alter table public.music_worker_runs enable row level security;
alter table public.music_alerts enable row level security;

revoke all on table public.music_worker_runs, public.music_alerts
  from public, anon, authenticated, service_role;
revoke all on sequence public.music_alerts_id_seq from public, anon, authenticated, service_role;

-- The panel (admins) and the service role read runs and alerts.
grant select on public.music_worker_runs, public.music_alerts to authenticated, service_role;

create policy music_worker_runs_read_admin on public.music_worker_runs
  for select to authenticated
  using ((select coalesce(auth.jwt() -> 'app_metadata' ->> 'role', '')) in ('admin', 'manager'));

create policy music_alerts_read_admin on public.music_alerts
  for select to authenticated
  using ((select coalesce(auth.jwt() -> 'app_metadata' ->> 'role', '')) in ('admin', 'manager'));

-- The lease columns are the status checker's business, not the public
-- status's: the column grant of 20261129000500 (state, is_available,
-- response_time_ms, last_check_at) stays as it is.

revoke all on function
  public.start_music_worker_run(text, text, text),
  public.finish_music_worker_run(uuid, jsonb, text),
  public.abandon_music_worker_runs(integer),
  public.prune_music_worker_runs(integer),
  public.record_music_alert_if_due(text),
  public.prune_music_alerts(integer),
  public.take_suno_probe_lease(integer, integer)
  from public, anon, authenticated, service_role;

-- The service role only: the worker, the status check and maintenance.
grant execute on function
  public.start_music_worker_run(text, text, text),
  public.finish_music_worker_run(uuid, jsonb, text),
  public.abandon_music_worker_runs(integer),
  public.prune_music_worker_runs(integer),
  public.record_music_alert_if_due(text),
  public.prune_music_alerts(integer),
  public.take_suno_probe_lease(integer, integer)
  to service_role;
