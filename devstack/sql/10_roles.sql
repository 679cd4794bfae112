-- Roles of a Supabase project, as PostgREST and the functions see them.
--
-- Stand-in for the platform: applied by devstack to the local cluster only,
-- never part of supabase/migrations. Idempotent: run at every start.

do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit password 'postgres';
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;

-- Extensions live in their own schema on Supabase; PostgREST and the roles
-- search it after public.
create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
create extension if not exists pgcrypto with schema extensions;
alter role anon set search_path = public, extensions;
alter role authenticated set search_path = public, extensions;
alter role service_role set search_path = public, extensions;

-- Supabase grants the API roles everything on public and lets RLS decide.
-- Migrations must revoke what they do not want exposed: keeping this default
-- here is what makes the local tests catch a forgotten revoke.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to anon, authenticated, service_role;

-- API sessions as hosted runs them. PostgREST logs in as authenticator and
-- applies the settings of the role it switches to for each request, so a
-- slow RPC is cut off at these limits (57014, "canceling statement due to
-- statement timeout") as it would be on hosted: anon after 3 s, authenticated
-- after 8 s, service_role at authenticator's 8 s. Waiting for a lock counts
-- separately (lock_timeout).
alter role authenticator set statement_timeout = '8s';
alter role authenticator set lock_timeout = '8s';
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';

-- Hosted loads pg-safeupdate into every authenticator session: an UPDATE or
-- DELETE without a WHERE clause fails (21000), even inside a function called
-- through /rest/v1/rpc. devstack's own version is in devstack/safeupdate/,
-- installed by scripts/setup. Direct postgres sessions are not affected.
alter role authenticator set session_preload_libraries = 'safeupdate';
