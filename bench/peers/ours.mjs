// Our queue: the checkout's SQL API, applied as devstack/src/schema.rs
// applies it, driven by a plain loop of claim_music_requests and
// complete_music_request calls (there is no worker library to run).

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { claimTimings } from "./claim_log.mjs";

const DATABASE = "ours";
const QUEUE = "bench";
const USERS = 20;

// bench_sql.rs's two-clip result: no clip ids, so every completion adds two
// library tracks.
const RESULT = {
  clips: [
    {
      id: null,
      title: "bench",
      audio_url: "https://cdn.example.test/a.mp3",
      duration: 120.0,
    },
    {
      id: null,
      title: "bench",
      audio_url: "https://cdn.example.test/b.mp3",
      duration: 121.0,
    },
  ],
};

const CLAIM_SQL =
  `select id, lease_token from public.claim_music_requests($1, $2, 120, '${QUEUE}')`;
const COMPLETE_SQL = "select id from public.complete_music_request($1, $2, $3)";

/** The platform stand-ins, the migrations in name order, then the seed. */
async function applySchema(db, repoRoot) {
  const platform = join(repoRoot, "devstack/sql");
  for (
    const name of readdirSync(platform).filter((n) => n.endsWith(".sql")).sort()
  ) {
    // pg_cron needs shared_preload_libraries and a scheduler process, which
    // would add its own CPU to the figures; the queue's API does not use it.
    if (name.includes("pg_cron")) continue;
    await db.query(readFileSync(join(platform, name), "utf8"));
  }
  const migrations = join(repoRoot, "supabase/migrations");
  for (
    const name of readdirSync(migrations).filter((n) => n.endsWith(".sql"))
      .sort()
  ) {
    await db.query("begin");
    await db.query(readFileSync(join(migrations, name), "utf8"));
    await db.query("commit");
  }
  await db.query(readFileSync(join(repoRoot, "supabase/seed.sql"), "utf8"));
}

/** A fresh database at the checkout's schema, with bench users and queue. */
async function freshDatabase(cluster, repoRoot) {
  await cluster.recreateDatabase(DATABASE);
  const db = await cluster.connect(DATABASE);
  await applySchema(db, repoRoot);
  await db.query(
    `insert into auth.users (id, email)
     select gen_random_uuid(), 'bench-' || i || '@bench.example' from generate_series(1, ${USERS}) i`,
  );
  await db.query(
    `insert into public.music_queues (name, max_pending_per_user) values ('${QUEUE}', 1000000)`,
  );
  return db;
}

// Argument shapes of a batch completion RPC that this harness knows how to
// call, each with the values for a batch of claimed rows.
const BATCH_SHAPES = {
  "uuid[],uuid[],jsonb[]": (rows) => [
    rows.map((r) => r.id),
    rows.map((r) => r.lease_token),
    rows.map(() => JSON.stringify(RESULT)),
  ],
  "jsonb": (rows) => [
    JSON.stringify(
      rows.map((r) => ({
        request_id: r.id,
        lease_token: r.lease_token,
        result: RESULT,
      })),
    ),
  ],
};

/**
 * The batch completion RPC (complete_music_requests) when the checkout's SQL
 * API has one whose arguments this harness knows and which returns the
 * completed rows; otherwise null, and `note` says why.
 */
async function batchCompletion(db) {
  const { rows: [fn] } = await db.query(
    `select pg_get_function_identity_arguments(p.oid) args, pg_get_function_result(p.oid) result
       from pg_proc p where p.pronamespace = 'public'::regnamespace and p.proname = 'complete_music_requests'`,
  );
  const perRow = "one complete_music_request per row";
  if (!fn) {
    return {
      call: null,
      note: `no complete_music_requests in the SQL API: ${perRow}`,
    };
  }
  const shape = fn.args.split(",").map((a) =>
    a.trim().split(/\s+/).slice(1).join(" ")
  ).join(",");
  const values = BATCH_SHAPES[shape];
  const returnsRows =
    /^SETOF (public\.)?music_generation_queue$|^TABLE\(id uuid/.test(fn.result);
  if (!values || !returnsRows) {
    return {
      call: null,
      note:
        `complete_music_requests(${fn.args}) returns ${fn.result}, which this harness does not know how to call: ${perRow}`,
    };
  }
  const placeholders = values([]).map((_, i) => `$${i + 1}`).join(", ");
  return {
    note:
      `complete_music_requests(${fn.args}) for each claimed batch of more than one`,
    call: (db, rows) =>
      db.query({
        name: "ours_complete_batch",
        text: `select id from public.complete_music_requests(${placeholders})`,
        values: values(rows),
      }),
  };
}

async function serviceClient(cluster, extra = {}) {
  const db = await cluster.connect(DATABASE, extra);
  await db.query("set role service_role");
  return db;
}

/** One setting of ours: W workers claiming B at a time. */
export function oursRun({ workers, batch }) {
  let admin;
  let completion;
  const claims = new Map();
  const completions = new Map();
  return {
    queue: "ours",
    setting: `${workers} worker${workers > 1 ? "s" : ""}, batch ${batch}`,
    key: `ours-${workers}x${batch}`,

    async setup(ctx) {
      admin = await freshDatabase(ctx.cluster, ctx.repoRoot);
      completion = await batchCompletion(admin);
      await admin.query("checkpoint");
    },

    /** One statement: N requests shaped like bench_sql.rs's fill(), each with its enqueued event. */
    async enqueue(_ctx, n) {
      await admin.query(
        `with inserted as (
           insert into public.music_generation_queue (user_id, queue, emotion, prompt, priority, run_at)
           select u.ids[1 + i % cardinality(u.ids)], '${QUEUE}',
                  (array['joy','calm','sad','anger','anxious','energetic','neutral'])[1 + i % 7],
                  'bench pending ' || i, i % 3, now() - make_interval(secs => i % 600)
             from generate_series(1, $1::int) i,
                  (select array_agg(id order by id) ids from auth.users) u
           returning id, user_id, status, queue, emotion, priority
         )
         insert into public.music_generation_events (request_id, user_id, event, status, attempt, actor, detail)
         select id, user_id, 'enqueued', status, 0, 'bench',
                jsonb_build_object('queue', queue, 'emotion', emotion, 'priority', priority)
           from inserted`,
        [n],
      );
    },

    async analyze() {
      await admin.query("analyze");
    },

    async drain(ctx) {
      const clients = await Promise.all(
        Array.from({ length: workers }, () => serviceClient(ctx.cluster)),
      );
      try {
        await Promise.all(clients.map((db, w) => work(db, `bench-${w}`)));
      } finally {
        await Promise.all(clients.map((db) => db.end()));
      }
    },

    /** Client side: each id claimed once and completed once. Database side: see below. */
    async check(n) {
      const problems = [];
      const twice = [...claims.values()].filter((c) => c !== 1).length;
      if (claims.size !== n || twice) {
        problems.push(
          `client: ${claims.size} ids claimed (of ${n}), ${twice} more than once`,
        );
      }
      const doneTwice = [...completions.values()].filter((c) => c !== 1).length;
      if (completions.size !== n || doneTwice) {
        problems.push(
          `client: ${completions.size} ids completed, ${doneTwice} more than once`,
        );
      }
      const { rows: [db] } = await admin.query(
        `select
           (select count(*) from public.music_generation_queue) as rows,
           (select count(*) from public.music_generation_queue
             where status = 'completed' and attempts = 1 and lease_token is null
               and lease_owner is null and lease_expires_at is null) as completed_once,
           (select count(*) from (
              select request_id from public.music_generation_events group by request_id
              having count(*) = 3 and count(*) filter (where event = 'enqueued') = 1
                 and count(*) filter (where event = 'claimed') = 1
                 and count(*) filter (where event = 'completed') = 1) e) as events_ok,
           (select count(*) from (
              select request_id from public.music_tracks where source = 'generated'
              group by request_id having count(*) = 2) t) as tracks_ok,
           (select count(*) from public.music_tracks where source = 'generated') as tracks`,
      );
      const expect = {
        rows: n,
        completed_once: n,
        events_ok: n,
        tracks_ok: n,
        tracks: 2 * n,
      };
      for (const [name, want] of Object.entries(expect)) {
        if (Number(db[name]) !== want) {
          problems.push(`database: ${name} = ${db[name]}, expected ${want}`);
        }
      }
      return problems;
    },

    note: () => completion?.note,

    async cleanup(ctx) {
      await admin.end();
      await ctx.cluster.dropDatabase(DATABASE);
    },
  };

  async function work(db, worker) {
    for (;;) {
      const { rows } = await db.query({
        name: "ours_claim",
        text: CLAIM_SQL,
        values: [worker, batch],
      });
      if (rows.length === 0) return;
      for (const row of rows) claims.set(row.id, (claims.get(row.id) ?? 0) + 1);
      if (batch > 1 && completion.call) {
        const done = await completion.call(db, rows);
        for (const row of done.rows) {
          completions.set(row.id, (completions.get(row.id) ?? 0) + 1);
        }
        continue;
      }
      for (const row of rows) {
        const done = await db.query({
          name: "ours_complete",
          text: COMPLETE_SQL,
          values: [row.id, row.lease_token, RESULT],
        });
        for (const r of done.rows) {
          completions.set(r.id, (completions.get(r.id) ?? 0) + 1);
        }
      }
    }
  }
}

/**
 * Server-side claim latency at `pending` waiting and `finished` finished
 * rows (bench_sql.rs's fill(): 90% completed, 10% failed): `claims` claims
 * of `batch`, each completed untimed so it leaves the claim index.
 */
export async function oursClaimLatency(
  ctx,
  { pending, finished, claims, batches },
) {
  const admin = await freshDatabase(ctx.cluster, ctx.repoRoot);
  const results = [];
  try {
    await fill(admin, pending, finished);
    const size = await tableSize(admin, "public.music_generation_queue");
    for (const batch of batches) {
      await admin.query("checkpoint");
      const tag = `peers-claim-ours-${batch}`;
      const db = await serviceClient(ctx.cluster, {
        application_name: tag,
        options: "-c log_min_duration_statement=0",
      });
      const mark = ctx.cluster.logMark();
      try {
        for (let i = 0; i < Math.ceil(claims / batch); i++) {
          const { rows } = await db.query({
            name: "ours_claim",
            text: CLAIM_SQL,
            values: ["bench-latency", batch],
          });
          for (const row of rows) {
            await db.query({
              name: "ours_complete",
              text: COMPLETE_SQL,
              values: [row.id, row.lease_token, RESULT],
            });
          }
        }
      } finally {
        await db.end();
      }
      const timings = claimTimings(
        ctx.cluster.logSince(mark),
        tag,
        (name) => name === "ours_claim",
      );
      results.push({
        queue: "ours",
        setting: `batch ${batch}`,
        table: `${fmtRows(pending)} pending + ${
          fmtRows(finished)
        } finished (90% completed, 10% failed); ${size}`,
        timings,
        perRow: batch,
      });
    }
  } finally {
    await admin.end();
    await ctx.cluster.dropDatabase(DATABASE);
  }
  return results;
}

async function fill(db, pending, finished) {
  const chunk = 100000;
  for (let done = 0; done < finished; done += chunk) {
    const n = Math.min(chunk, finished - done);
    await db.query(
      `insert into public.music_generation_queue
         (user_id, queue, emotion, prompt, status, attempts, result, submitted_at, completed_at,
          failed_at, error_code, created_at, run_at)
       select u.ids[1 + i % cardinality(u.ids)], '${QUEUE}',
              (array['joy','calm','sad','anger','anxious','energetic','neutral'])[1 + i % 7],
              'bench finished ' || i,
              case when i % 10 = 0 then 'failed' else 'completed' end, 1,
              case when i % 10 = 0 then null else '{"clips": []}'::jsonb end,
              t - interval '150 seconds',
              case when i % 10 = 0 then null else t end,
              case when i % 10 = 0 then t end,
              case when i % 10 = 0 then 'http_503' end,
              t - interval '200 seconds', t - interval '200 seconds'
         from generate_series($1::int + 1, $1::int + $2::int) as i,
              (select array_agg(id order by id) ids from auth.users) u,
              lateral (select now() - make_interval(secs => (i * 2591.0) % 2592000) as t) x`,
      [done, n],
    );
  }
  await db.query(
    `insert into public.music_generation_queue (user_id, queue, emotion, prompt, priority, run_at)
     select u.ids[1 + i % cardinality(u.ids)], '${QUEUE}',
            (array['joy','calm','sad','anger','anxious','energetic','neutral'])[1 + i % 7],
            'bench pending ' || i, i % 3, now() - make_interval(secs => i % 600)
       from generate_series(1, $1::int) as i, (select array_agg(id order by id) ids from auth.users) u`,
    [pending],
  );
  await db.query("vacuum analyze public.music_generation_queue");
}

/** Heap and index sizes of a table (all its partitions when it has any). */
export async function tableSize(db, table) {
  const { rows: [r] } = await db.query(
    `with leaves as (
       select relid from pg_partition_tree($1::regclass) where isleaf
       union all
       select $1::regclass where not exists (select from pg_partition_tree($1::regclass))
     )
     select pg_size_pretty(sum(pg_table_size(l.relid))) heap, pg_size_pretty(sum(pg_indexes_size(l.relid))) idx,
            (select count(*) from pg_index i join leaves x on x.relid = i.indrelid) n
       from leaves l`,
    [table],
  );
  return `heap ${r.heap}, ${r.n} indexes ${r.idx}`;
}

export function fmtRows(n) {
  return n.toLocaleString("en-US");
}
