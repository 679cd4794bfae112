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
-- 1. Values. On the first run (or to rotate), fill in the two values below,
--    or leave them empty and pass them as settings instead, e.g.
--      PGOPTIONS="-c music_queue.project_url=https://<ref>.supabase.co -c music_queue.secret_key=<secret key>" \
--        psql "$DATABASE_URL" -f sql/SETUP_MUSIC_QUEUE_CRON.sql
--    Empty values keep what Vault already holds. Never commit a filled-in copy.
-- ---------------------------------------------------------------------------
do $setup$
declare
  project_url text := '';  -- e.g. https://abcdefghijklmnop.supabase.co (local stack: http://127.0.0.1:54321)
  secret_key  text := '';  -- the project's secret key (sb_secret_...) or service_role key
  existing uuid;
begin
  project_url := coalesce(nullif(project_url, ''), nullif(current_setting('music_queue.project_url', true), ''));
  secret_key := coalesce(nullif(secret_key, ''), nullif(current_setting('music_queue.secret_key', true), ''));

  if project_url is not null then
    project_url := rtrim(project_url, '/');
    select id into existing from vault.decrypted_secrets where name = 'music_queue_project_url';
    if existing is null then
      perform vault.create_secret(project_url, 'music_queue_project_url',
                                  'Project base URL used by the music queue cron jobs');
    else
      perform vault.update_secret(existing, project_url);
    end if;
  end if;

  if secret_key is not null then
    select id into existing from vault.decrypted_secrets where name = 'music_queue_secret_key';
    if existing is null then
      perform vault.create_secret(secret_key, 'music_queue_secret_key',
                                  'Secret key the music queue cron jobs send to the edge functions');
    else
      perform vault.update_secret(existing, secret_key);
    end if;
  end if;

  if not exists (select from vault.decrypted_secrets where name = 'music_queue_project_url')
     or not exists (select from vault.decrypted_secrets where name = 'music_queue_secret_key') then
    raise exception 'first run: set project_url and secret_key at the top of SETUP_MUSIC_QUEUE_CRON.sql '
                    '(or pass music_queue.project_url and music_queue.secret_key as settings)';
  end if;
end
$setup$;

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
