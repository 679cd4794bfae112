-- pg_cron is a real extension here (Debian's postgresql-15-cron), preloaded
-- with background workers; Supabase enables it in the postgres database.

create extension if not exists pg_cron;
grant usage on schema cron to postgres;
