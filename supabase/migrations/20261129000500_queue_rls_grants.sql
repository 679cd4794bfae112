-- Music generation queue: row-level security and grants.
--
-- Supabase grants every API role (anon, authenticated, service_role) all
-- privileges on new public tables and functions; here each table and
-- function of the queue is first stripped of them, then given exactly what
-- it needs:
--   * tables: read-only for the API roles, filtered by RLS (a user reads
--     own requests, events and tracks; admins and the service role read
--     all; anyone reads the provider status). No API role may insert,
--     update or delete: every write goes through the SQL functions.
--   * functions: the worker's transitions to the service role only;
--     enqueue to signed-in users and the service role; admin actions and
--     statistics to signed-in users (they check for an admin inside) and the
--     service role; the provider status to everyone.
-- The service role bypasses RLS (BYPASSRLS), as on Supabase.
-- Admin in policies = JWT app_metadata.role admin or manager; user_metadata
-- is never trusted. Claims are read through (select ...) so each query
-- evaluates them once, not per row.

-- ---------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------
alter table public.music_generation_queue enable row level security;
alter table public.music_generation_events enable row level security;
alter table public.music_tracks enable row level security;
alter table public.suno_api_status enable row level security;
alter table public.suno_api_status_checks enable row level security;
alter table public.music_queues enable row level security;
alter table public.music_rate_limits enable row level security;
alter table public.music_queue_daily_totals enable row level security;
alter table public.music_queue_stats_horizon enable row level security;

revoke all on table
  public.music_generation_queue, public.music_generation_events, public.music_tracks,
  public.suno_api_status, public.suno_api_status_checks, public.music_queues,
  public.music_rate_limits, public.music_queue_daily_totals, public.music_queue_stats_horizon
  from public, anon, authenticated, service_role;
revoke all on sequence public.music_generation_events_id_seq, public.suno_api_status_checks_id_seq
  from public, anon, authenticated, service_role;

grant select on public.music_generation_queue, public.music_generation_events, public.music_tracks,
  public.suno_api_status_checks, public.music_queues
  to authenticated, service_role;
grant select on public.suno_api_status to anon, authenticated, service_role;
grant select on public.music_rate_limits, public.music_queue_daily_totals, public.music_queue_stats_horizon
  to service_role;

create policy music_generation_queue_read_own_or_admin on public.music_generation_queue
  for select to authenticated
  using (
    user_id = (select auth.uid())
    or (select coalesce(auth.jwt() -> 'app_metadata' ->> 'role', '')) in ('admin', 'manager'));

create policy music_generation_events_read_own_or_admin on public.music_generation_events
  for select to authenticated
  using (
    user_id = (select auth.uid())
    or (select coalesce(auth.jwt() -> 'app_metadata' ->> 'role', '')) in ('admin', 'manager'));

-- Tracks: one's own, the shared fallback library, or all for admins.
create policy music_tracks_read_own_library_or_admin on public.music_tracks
  for select to authenticated
  using (
    fallback_eligible
    or user_id = (select auth.uid())
    or (select coalesce(auth.jwt() -> 'app_metadata' ->> 'role', '')) in ('admin', 'manager'));

create policy suno_api_status_read_all on public.suno_api_status
  for select to anon, authenticated
  using (true);

create policy suno_api_status_checks_read_admin on public.suno_api_status_checks
  for select to authenticated
  using ((select coalesce(auth.jwt() -> 'app_metadata' ->> 'role', '')) in ('admin', 'manager'));

create policy music_queues_read_admin on public.music_queues
  for select to authenticated
  using ((select coalesce(auth.jwt() -> 'app_metadata' ->> 'role', '')) in ('admin', 'manager'));

-- ---------------------------------------------------------------------------
-- Functions: revoke everything, then grant per caller.
-- ---------------------------------------------------------------------------
revoke all on function
  public._music_caller_kind(),
  public._music_actor(),
  public._music_require_admin(),
  public._music_bad_input(text, text),
  public._music_check_lease_args(text, integer),
  public._music_pick_fallback(text),
  public._music_ticket(public.music_generation_queue, boolean),
  public.enqueue_music_request(text, double precision, text, text, boolean, text, text, text, text, uuid, integer, text, timestamptz, integer),
  public.claim_music_requests(text, integer, integer, text),
  public.claim_music_request(uuid, text, integer),
  public.claim_music_polls(text, integer, integer, text),
  public.mark_music_request_submitted(uuid, uuid, text, text, integer),
  public.record_music_request_progress(uuid, uuid, text, jsonb),
  public.complete_music_request(uuid, uuid, jsonb),
  public.retry_music_request(uuid, uuid, integer, text, text),
  public.defer_music_request(uuid, uuid, integer, text),
  public.fail_music_request(uuid, uuid, text, text),
  public.expire_music_requests(text),
  public.admin_retry_music_request(uuid),
  public.admin_cancel_music_request(uuid),
  public.pause_music_queue(text, text),
  public.resume_music_queue(text),
  public.configure_music_queue(text, integer, integer, integer, integer),
  public.record_suno_status_check(text, integer, text, numeric, integer, timestamptz),
  public.get_suno_api_status(),
  public.take_rate_token(text),
  public.set_rate_limit(text, integer, numeric),
  public.rollup_music_queue_stats(),
  public.music_queue_stats(text),
  public.music_queue_timeseries(integer, text),
  public.prune_music_queue_logs(integer, integer, integer),
  public.music_queue_maintenance()
  from public, anon, authenticated, service_role;

-- Signed-in users (for themselves) and the service role (for anyone).
grant execute on function
  public.enqueue_music_request(text, double precision, text, text, boolean, text, text, text, text, uuid, integer, text, timestamptz, integer)
  to authenticated, service_role;

-- The worker (service role) only.
grant execute on function
  public.claim_music_requests(text, integer, integer, text),
  public.claim_music_request(uuid, text, integer),
  public.claim_music_polls(text, integer, integer, text),
  public.mark_music_request_submitted(uuid, uuid, text, text, integer),
  public.record_music_request_progress(uuid, uuid, text, jsonb),
  public.complete_music_request(uuid, uuid, jsonb),
  public.retry_music_request(uuid, uuid, integer, text, text),
  public.defer_music_request(uuid, uuid, integer, text),
  public.fail_music_request(uuid, uuid, text, text),
  public.expire_music_requests(text),
  public.record_suno_status_check(text, integer, text, numeric, integer, timestamptz),
  public.take_rate_token(text),
  public.rollup_music_queue_stats(),
  public.prune_music_queue_logs(integer, integer, integer),
  public.music_queue_maintenance()
  to service_role;

-- Admins (checked inside) and the service role.
grant execute on function
  public.admin_retry_music_request(uuid),
  public.admin_cancel_music_request(uuid),
  public.pause_music_queue(text, text),
  public.resume_music_queue(text),
  public.configure_music_queue(text, integer, integer, integer, integer),
  public.set_rate_limit(text, integer, numeric),
  public.music_queue_stats(text),
  public.music_queue_timeseries(integer, text)
  to authenticated, service_role;

-- Everyone: the status badge.
grant execute on function public.get_suno_api_status() to anon, authenticated, service_role;
