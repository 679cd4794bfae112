-- Schedules the music queue's background work with pg_cron and pg_net.
--
-- Run once per project by an operator (SQL editor, or psql as postgres),
-- and again whenever the URL or the key changes. Idempotent: the Vault
-- secrets are created or updated in place, and cron.schedule with an
-- existing job name replaces that job, so a second run leaves one of each.
--
-- Jobs:
--   music-queue-worker-every-minute  POST /functions/v1/music-queue-worker
--   suno-status-check-every-minute   POST /functions/v1/suno-status-check
--   music-queue-maintenance          public.music_queue_maintenance() every
--                                    5 min (expiry, stats roll-up, pruning)
-- The HTTP jobs read the project URL and the secret key from Vault each
-- time they run and send the key as `apikey` and `Authorization: Bearer`
-- (the functions have verify_jwt = false and check the key themselves).
-- No key is ever written in this file or in cron.job.
--
-- Plain SQL, no psql meta-commands.

-- ---------------------------------------------------------------------------
-- 1. Values. On the first run (or to rotate), pass them as settings:
--      PGOPTIONS="-c music_queue.project_url=https://<ref>.supabase.co -c music_queue.secret_key=<secret key>" \
--        psql -v ON_ERROR_STOP=1 "$DATABASE_URL" -f sql/SETUP_MUSIC_QUEUE_CRON.sql
--    or, in the SQL editor, put them between the empty quotes of the next
--    statement. Empty values keep what Vault already holds. Never commit a
--    filled-in copy.
--
--    Every statement that sees the key is a plain SELECT: pg_stat_statements
--    (on for hosted projects, shown on the "Query performance" page) stores
--    a SELECT with its literals replaced by $1, $2, ..., but stores a DO
--    block or a SET verbatim. So no DO block and no SET here carries a value.
--    If a key was ever pasted into one, run
--    `select extensions.pg_stat_statements_reset()` and rotate the key.
-- ---------------------------------------------------------------------------
select set_config(v.setting, v.value, false)
  from (values
    ('music_queue.project_url', ''),  -- e.g. https://abcdefghijklmnop.supabase.co (local stack: http://127.0.0.1:54321)
    ('music_queue.secret_key', '')    -- the project's secret key (sb_secret_...) or service_role key
  ) as v (setting, value)
 where v.value <> '';

-- The values given, by Vault secret name (nothing for a value not given).
create or replace temporary view music_queue_setup_values as
select v.name, v.value, v.description
  from (values
    ('music_queue_project_url',
     rtrim(nullif(current_setting('music_queue.project_url', true), ''), '/'),
     'Project base URL used by the music queue cron jobs'),
    ('music_queue_secret_key',
     nullif(current_setting('music_queue.secret_key', true), ''),
     'Secret key the music queue cron jobs send to the edge functions')
  ) as v (name, value, description)
 where v.value is not null;

select vault.update_secret(s.id, v.value)
  from pg_temp.music_queue_setup_values v
  join vault.decrypted_secrets s on s.name = v.name;

select vault.create_secret(v.value, v.name, v.description)
  from pg_temp.music_queue_setup_values v
 where not exists (select from vault.decrypted_secrets s where s.name = v.name);

drop view pg_temp.music_queue_setup_values;
select set_config(v.setting, '', false)
  from (values ('music_queue.project_url'), ('music_queue.secret_key')) as v (setting);

-- Both values must be in Vault by now (this block carries no value).
do $check$
begin
  if not exists (select from vault.decrypted_secrets where name = 'music_queue_project_url')
     or not exists (select from vault.decrypted_secrets where name = 'music_queue_secret_key') then
    raise exception 'first run: pass music_queue.project_url and music_queue.secret_key as settings, '
                    'or fill in the values at the top of SETUP_MUSIC_QUEUE_CRON.sql';
  end if;
end
$check$;

-- ---------------------------------------------------------------------------
-- 2. Extensions (already there on the local stack and on most projects).
-- ---------------------------------------------------------------------------
create extension if not exists pg_cron;

do $net$
begin
  if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
    create extension if not exists pg_net with schema extensions;
  end if;
end
$net$;

-- ---------------------------------------------------------------------------
-- 3. The worker, every minute. Its timeout (150 s) is above anything the
--    worker may take (the hosted wall-clock limit of a function is 150 s
--    on the free plan), so pg_net never records a timeout for a run that
--    was still working. Outcomes land in net._http_response (see
--    sql/monitoring.sql): a "succeeded" cron run only means "queued".
--
--    On Supabase (pg_cron 1.5 and later) it can run every 30 seconds:
--      select cron.schedule('music-queue-worker-every-minute', '30 seconds',
--        (select command from cron.job where jobname = 'music-queue-worker-every-minute'));
--    (pg_cron 1.4, as on the local stack, only takes 5-field schedules.)
-- ---------------------------------------------------------------------------
select cron.schedule(
  'music-queue-worker-every-minute',
  '* * * * *',
  $job$
  select net.http_post(
    url := (select decrypted_secret from vault.decrypted_secrets
             where name = 'music_queue_project_url') || '/functions/v1/music-queue-worker',
    headers := (select jsonb_build_object(
                  'Content-Type', 'application/json',
                  'apikey', decrypted_secret,
                  'Authorization', 'Bearer ' || decrypted_secret)
                  from vault.decrypted_secrets where name = 'music_queue_secret_key'),
    body := jsonb_build_object('trigger', 'cron', 'scheduled_at', now()),
    timeout_milliseconds := 150000
  ) as request_id
  $job$
);

-- ---------------------------------------------------------------------------
-- 4. The provider status check, every minute (the app's badge reads the
--    stored status every 30 s; the worker also checks before claiming).
-- ---------------------------------------------------------------------------
select cron.schedule(
  'suno-status-check-every-minute',
  '* * * * *',
  $job$
  select net.http_post(
    url := (select decrypted_secret from vault.decrypted_secrets
             where name = 'music_queue_project_url') || '/functions/v1/suno-status-check',
    headers := (select jsonb_build_object(
                  'Content-Type', 'application/json',
                  'apikey', decrypted_secret,
                  'Authorization', 'Bearer ' || decrypted_secret)
                  from vault.decrypted_secrets where name = 'music_queue_secret_key'),
    body := jsonb_build_object('trigger', 'cron', 'scheduled_at', now()),
    timeout_milliseconds := 30000
  ) as request_id
  $job$
);

-- ---------------------------------------------------------------------------
-- 5. Maintenance in SQL, every 5 minutes: fail abandoned claims with no
--    attempt left, roll up yesterday's statistics, prune check history and
--    the pg_net / pg_cron logs.
-- ---------------------------------------------------------------------------
select cron.schedule(
  'music-queue-maintenance',
  '*/5 * * * *',
  $job$ select public.music_queue_maintenance() $job$
);

-- What is scheduled now.
select jobid, jobname, schedule, active
  from cron.job
 where jobname in ('music-queue-worker-every-minute', 'suno-status-check-every-minute', 'music-queue-maintenance')
 order by jobname;
