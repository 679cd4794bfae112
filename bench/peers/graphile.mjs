// graphile-worker as shipped: its own runner, pool, claim and completion,
// with a task that does nothing but count. A completed job is deleted, so
// the database side of exactly-once is an empty job table.

import { Logger, makeWorkerUtils, run, runMigrations } from "graphile-worker";
import pg from "pg";
import { claimTimings } from "./claim_log.mjs";
import { fmtRows, tableSize } from "./ours.mjs";
import { waitUntil } from "./wait.mjs";

const DATABASE = "graphile";
const TASK = "bench";

// Warnings and errors only: the runner's per-job info lines would cost the
// client CPU that the peers are measured without.
const logger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") {
    console.error(`graphile-worker ${level}: ${message}`);
  }
});

async function freshDatabase(cluster) {
  await cluster.recreateDatabase(DATABASE);
  await runMigrations({ connectionString: cluster.url(DATABASE), logger });
  const db = await cluster.connect(DATABASE);
  await db.query(
    `insert into graphile_worker._private_tasks (identifier) values ('${TASK}') on conflict do nothing`,
  );
  return db;
}

async function jobsLeft(db) {
  const { rows: [r] } = await db.query(
    "select count(*)::int n from graphile_worker._private_jobs",
  );
  return r.n;
}

/** One setting of graphile-worker: `concurrency` jobs at once in one runner. */
export function graphileRun({ concurrency }) {
  let admin;
  let seen;
  return {
    queue: "graphile-worker 0.18.0",
    setting: `concurrency ${concurrency}, as shipped`,
    key: `graphile-c${concurrency}`,

    async setup(ctx) {
      admin = await freshDatabase(ctx.cluster);
      await admin.query("checkpoint");
    },

    async enqueue(ctx, n) {
      seen = new Uint8Array(n);
      const utils = await makeWorkerUtils({
        connectionString: ctx.cluster.url(DATABASE),
        logger,
      });
      try {
        await utils.addJobs(
          Array.from(
            { length: n },
            (_, i) => ({ identifier: TASK, payload: { i } }),
          ),
        );
      } finally {
        await utils.release();
      }
    },

    async analyze() {
      await admin.query("analyze");
    },

    async drain(ctx, n) {
      let handled = 0;
      let allHandled;
      const done = new Promise((resolve) => (allHandled = resolve));
      const runner = await run({
        connectionString: ctx.cluster.url(DATABASE),
        concurrency,
        noHandleSignals: true,
        logger,
        taskList: {
          [TASK]: (payload) => {
            seen[payload.i] = Math.min(255, seen[payload.i] + 1);
            if (++handled === n) allHandled();
          },
        },
      });
      await done;
      // The last completions are in flight when the last handler returns.
      await waitUntil(async () => (await jobsLeft(admin)) === 0, 60_000);
      await runner.stop();
    },

    async check(n) {
      const problems = [];
      const handled = seen.reduce((sum, c) => sum + (c > 0 ? 1 : 0), 0);
      const twice = seen.reduce((sum, c) => sum + (c > 1 ? 1 : 0), 0);
      if (handled !== n || twice) {
        problems.push(
          `client: ${handled} of ${n} jobs handled, ${twice} more than once`,
        );
      }
      const left = await jobsLeft(admin);
      if (left !== 0) {
        problems.push(
          `database: ${left} jobs left (completed jobs are deleted)`,
        );
      }
      return problems;
    },

    note: () => undefined,

    async cleanup(ctx) {
      await admin.end();
      await ctx.cluster.dropDatabase(DATABASE);
    },
  };
}

/**
 * Server-side claim latency (get_job) at `pending` waiting and `finished`
 * permanently failed jobs: a runner at concurrency 1 handles `claims` jobs.
 */
export async function graphileClaimLatency(ctx, { pending, finished, claims }) {
  const admin = await freshDatabase(ctx.cluster);
  try {
    await admin.query(
      `insert into graphile_worker._private_jobs (task_id, payload, attempts, max_attempts, last_error)
       select t.id, json_build_object('i', -i), 25, 25, 'bench: failed for good'
         from generate_series(1, $1::int) i, graphile_worker._private_tasks t where t.identifier = '${TASK}'`,
      [finished],
    );
    const utils = await makeWorkerUtils({
      connectionString: ctx.cluster.url(DATABASE),
      logger,
    });
    try {
      await utils.addJobs(
        Array.from(
          { length: pending },
          (_, i) => ({ identifier: TASK, payload: { i } }),
        ),
      );
    } finally {
      await utils.release();
    }
    await admin.query("vacuum analyze graphile_worker._private_jobs");
    await admin.query("checkpoint");
    const size = await tableSize(admin, "graphile_worker._private_jobs");
    const tag = "peers-claim-graphile";
    const pool = new pg.Pool({
      ...ctx.cluster.config(DATABASE),
      application_name: tag,
      options: "-c log_min_duration_statement=0",
      max: 3,
    });
    pool.on(
      "error",
      (error) => console.error(`graphile-worker pool: ${error.message}`),
    );
    pool.on(
      "connect",
      (client) =>
        client.on(
          "error",
          (error) => console.error(`graphile-worker client: ${error.message}`),
        ),
    );
    const mark = ctx.cluster.logMark();
    let handled = 0;
    let enough;
    const done = new Promise((resolve) => (enough = resolve));
    const runner = await run({
      pgPool: pool,
      concurrency: 1,
      noHandleSignals: true,
      logger,
      taskList: {
        [TASK]: () => {
          if (++handled === claims) enough();
        },
      },
    });
    await done;
    await runner.stop();
    await pool.end();
    const timings = claimTimings(
      ctx.cluster.logSince(mark),
      tag,
      (name) => name.startsWith("get_job"),
    );
    return [{
      queue: "graphile-worker 0.18.0",
      setting: "concurrency 1",
      table: `${fmtRows(pending)} pending + ${
        fmtRows(finished)
      } permanently failed; ${size}`,
      timings,
      perRow: 1,
    }];
  } finally {
    await admin.end();
    await ctx.cluster.dropDatabase(DATABASE);
  }
}
