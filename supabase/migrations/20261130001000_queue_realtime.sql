-- Realtime: a request's owner hears at once when it changes.
--
-- On a hosted project (and the Supabase CLI's local stack) Supabase Realtime
-- streams the changes of the tables in the `supabase_realtime` publication,
-- checking each subscriber's RLS and column privileges, so an owner hears of
-- their own requests only and never of the hidden columns (callback_token,
-- lease_token: see 20261129000500_queue_rls_grants.sql).
--
-- A database without Realtime has no such publication (devstack, a plain
-- Postgres): then this migration does nothing, and clients poll. It never
-- creates the publication, which belongs to the platform. Idempotent: a
-- table already published is left alone (`add table` would fail on it).
do $realtime$
begin
  if exists (select from pg_catalog.pg_publication where pubname = 'supabase_realtime')
     and not exists (
       select from pg_catalog.pg_publication_tables
        where pubname = 'supabase_realtime'
          and schemaname = 'public'
          and tablename = 'music_generation_queue')
  then
    alter publication supabase_realtime add table public.music_generation_queue;
  end if;
end
$realtime$;
