-- Music generation queue: row-level security and grants.
--
-- Supabase grants every API role (anon, authenticated, service_role) all
-- privileges on new public tables and functions; here each table and
-- function of the queue is first stripped of them, then given exactly what
-- it needs:
--   * tables: read-only for the API roles, filtered by RLS (a user reads
--     own requests, events and tracks; admins and the service role read
--     all; anyone reads the public part of the provider status), and by
--     column where a row holds something its readers must not see (below).
--     No API role may insert, update or delete: every write goes through
--     the SQL functions.
--   * functions: the worker's transitions and enqueue to the service role
--     only; admin actions, statistics and the full provider status to
--     signed-in users (they check for an admin inside) and the service role.
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

grant select on public.music_generation_events, public.suno_api_status_checks, public.music_queues
  to authenticated, service_role;
grant select on public.music_generation_queue, public.music_tracks, public.suno_api_status
  to service_role;
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

-- Column grants: signed-in users (owners and admins alike) read every column
-- but the hidden ones, listed here:
--   * a request's callback_token (with it an owner could forge the
--     provider's callbacks for their own request) and lease_token (the
--     worker's proof of its claim);
--   * a track's user_id, request_id and provider_clip_id: every shared
--     fallback track would otherwise tell each user who generated it.
-- The grant is computed from the columns the earlier migrations define, so
-- every one of them but the hidden is readable; a new secret column must
-- join the list, and a column added by a later migration needs its own grant.
-- PostgREST's `select=*` is refused (42501) where a column is hidden: these
-- callers name their columns, or read their requests from my_music_requests.
do $grants$
declare
  v_table record;
begin
  for v_table in
    select t.name, t.hidden
      from (values
        ('music_generation_queue', array['callback_token', 'lease_token']),
        ('music_tracks', array['user_id', 'request_id', 'provider_clip_id'])) as t (name, hidden)
  loop
    execute (
      select format('grant select (%s) on public.%I to authenticated',
                    string_agg(quote_ident(a.attname), ', ' order by a.attnum), v_table.name)
        from pg_catalog.pg_attribute a
       where a.attrelid = format('public.%I', v_table.name)::regclass
         and a.attnum > 0
         and not a.attisdropped
         and a.attname <> all (v_table.hidden));
  end loop;
end
$grants$;

-- The public status, for the app's badge and anonymous visitors: state,
-- availability, response time and last check. Credits, the last error and
-- the failure streak are for admins (get_suno_api_status()).
grant select (state, is_available, response_time_ms, last_check_at) on public.suno_api_status
  to anon, authenticated;

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
  public.enqueue_music_request(text, double precision, text, text, boolean, text, text, text, text, uuid, integer, text, timestamptz, integer, text, text),
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
  public.configure_music_queue(text, integer, integer, integer, integer, integer),
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

-- The service role only: the worker, and emotion-music-ai enqueueing on a
-- signed-in user's behalf.
grant execute on function
  public.enqueue_music_request(text, double precision, text, text, boolean, text, text, text, text, uuid, integer, text, timestamptz, integer, text, text),
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
  public.configure_music_queue(text, integer, integer, integer, integer, integer),
  public.set_rate_limit(text, integer, numeric),
  public.music_queue_stats(text),
  public.music_queue_timeseries(integer, text),
  public.get_suno_api_status()
  to authenticated, service_role;

-- The provider task's transitions (20261129000250), the task timeout and the
-- fallback retirement: the worker, its callback route and maintenance
-- (service role) only.
revoke all on function
  public._music_token_matches(text, text),
  public.await_music_callback(uuid, uuid, integer),
  public.attach_music_task(uuid, text, text),
  public.wake_music_request(uuid, text),
  public.schedule_music_poll(uuid, uuid, integer, boolean),
  public.resubmit_stuck_music_request(uuid, uuid, text),
  public.time_out_music_tasks(text),
  public.retire_expiring_fallback_tracks()
  from public, anon, authenticated, service_role;

grant execute on function
  public.await_music_callback(uuid, uuid, integer),
  public.attach_music_task(uuid, text, text),
  public.wake_music_request(uuid, text),
  public.schedule_music_poll(uuid, uuid, integer, boolean),
  public.resubmit_stuck_music_request(uuid, uuid, text),
  public.time_out_music_tasks(text),
  public.retire_expiring_fallback_tracks()
  to service_role;

-- ---------------------------------------------------------------------------
-- A user's own requests, newest first: GET /rest/v1/my_music_requests
-- ?order=created_at.desc&limit=20. The table's policy is one OR (own rows or
-- admin), so an unfiltered read of the table walks every user's rows (about
-- 0.4 s at 300k rows); this view names the owner, which the planner serves
-- from music_generation_queue_user_created_idx. security_invoker: RLS and
-- the column grants apply to the caller as on the table.
-- ---------------------------------------------------------------------------
create view public.my_music_requests
with (security_invoker = true)
as
select q.id, q.queue, q.emotion, q.intensity, q.context, q.asked_style, q.asked_title, q.prompt, q.style, q.title, q.instrumental,
       q.model, q.priority, q.status, q.attempts, q.max_attempts, q.run_at, q.queued_at, q.suno_task_id,
       q.provider_status, q.result, q.fallback_track_id, q.fallback_same_emotion, q.error_code,
       q.error_message, q.idempotency_key, q.created_at, q.started_at, q.submitted_at,
       q.completed_at, q.failed_at, q.updated_at
  from public.music_generation_queue q
 where q.user_id = (select auth.uid());

revoke all on public.my_music_requests from public, anon, authenticated, service_role;
grant select on public.my_music_requests to authenticated;
