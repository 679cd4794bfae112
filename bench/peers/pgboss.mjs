// pg-boss through its own workers: poll every 0.5 s (its minimum) and
// fetch again at once while fetches come back full (burstWhenBatchFull for
// batches; burstWhenReadyExceeds for batch 1, which reads the queue's ready
// count, so the supervisor refreshes it every second instead of every
// minute). A completed job stays, in state 'completed'.

import { PgBoss } from "pg-boss";
import { claimTimings } from "./claim_log.mjs";
import { fmtRows, tableSize } from "./ours.mjs";
import { waitUntil } from "./wait.mjs";

const DATABASE = "pgboss";
const QUEUE = "bench";

const WORK_OPTIONS = {
  pollingIntervalSeconds: 0.5,
  burstWhenBatchFull: true,
  burstWhenReadyExceeds: 1,
};

async function startBoss(cluster, extra = {}) {
  const boss = new PgBoss({
    ...cluster.config(DATABASE),
    superviseIntervalSeconds: 1,
    monitorIntervalSeconds: 1,
    queueCacheIntervalSeconds: 1,
    ...extra,
  });
  boss.on("error", (error) => {
    // 57P01: a session of a stopped instance ended by the database's drop.
    if (error.code !== "57P01") {
      console.error(`pg-boss error: ${error.message}`);
    }
  });
  await boss.start();
  await boss.createQueue(QUEUE);
  return boss;
}

async function completedCount(db) {
  const { rows: [r] } = await db.query(
    `select count(*) filter (where state = 'completed')::int completed,
            count(*) filter (where state = 'completed' and retry_count = 0 and started_on is not null)::int once,
            count(*)::int total
       from pgboss.job where name = '${QUEUE}'`,
  );
  return r;
}

/** One setting of pg-boss: `localConcurrency` workers fetching `batchSize` at a time. */
export function pgbossRun({ batchSize, localConcurrency }) {
  let admin;
  let boss;
  let seen;
  return {
    queue: "pg-boss 12.38.0",
    setting:
      `batchSize ${batchSize} × localConcurrency ${localConcurrency}, poll 0.5 s + burst`,
    key: `pgboss-${batchSize}x${localConcurrency}`,

    async setup(ctx) {
      await ctx.cluster.recreateDatabase(DATABASE);
      boss = await startBoss(ctx.cluster);
      admin = await ctx.cluster.connect(DATABASE);
      await admin.query("checkpoint");
    },

    async enqueue(_ctx, n) {
      seen = new Uint8Array(n);
      await boss.insert(
        QUEUE,
        Array.from({ length: n }, (_, i) => ({ data: { i } })),
      );
    },

    async analyze() {
      await admin.query("analyze");
    },

    async drain(_ctx, n) {
      let handled = 0;
      let allHandled;
      const done = new Promise((resolve) => (allHandled = resolve));
      await boss.work(
        QUEUE,
        { ...WORK_OPTIONS, batchSize, localConcurrency },
        (jobs) => {
          for (const job of jobs) {
            seen[job.data.i] = Math.min(
              255,
              seen[job.data.i] + 1,
            );
          }
          handled += jobs.length;
          if (handled >= n) allHandled();
        },
      );
      await done;
      // pg-boss completes a batch after its handler returns.
      await waitUntil(
        async () => (await completedCount(admin)).completed >= n,
        60_000,
      );
      await boss.offWork(QUEUE);
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
      const db = await completedCount(admin);
      if (db.total !== n || db.once !== n) {
        problems.push(
          `database: ${db.once} of ${db.total} jobs completed on their first fetch, expected ${n} of ${n}`,
        );
      }
      return problems;
    },

    note: () => undefined,

    async cleanup(ctx) {
      await boss.stop({ graceful: true, timeout: 10_000 });
      await admin.end();
      await ctx.cluster.dropDatabase(DATABASE);
    },
  };
}

/**
 * Server-side claim latency (the fetch statement) at `pending` waiting and
 * `finished` completed jobs: `claims` fetches of one job, each completed.
 */
export async function pgbossClaimLatency(ctx, { pending, finished, claims }) {
  await ctx.cluster.recreateDatabase(DATABASE);
  const filler = await startBoss(ctx.cluster);
  const admin = await ctx.cluster.connect(DATABASE);
  try {
    await admin.query(
      `insert into pgboss.job (name, data, state, started_on, completed_on)
       select '${QUEUE}', jsonb_build_object('i', -i), 'completed', now() - interval '1 minute', now()
         from generate_series(1, $1::int) i`,
      [finished],
    );
    await filler.insert(
      QUEUE,
      Array.from({ length: pending }, (_, i) => ({ data: { i } })),
    );
    await filler.stop({ graceful: true, timeout: 10_000 });
    await admin.query("vacuum analyze pgboss.job");
    await admin.query("checkpoint");
    const size = await tableSize(admin, "pgboss.job");
    const tag = "peers-claim-pgboss";
    const mark = ctx.cluster.logMark();
    // fetch + complete in a loop: the worker's claim statement without its
    // polling, and no supervisor passes beside it.
    const boss = await startBoss(ctx.cluster, {
      application_name: tag,
      options: "-c log_min_duration_statement=0",
      supervise: false,
    });
    for (let i = 0; i < claims; i++) {
      const [job] = await boss.fetch(QUEUE);
      await boss.complete(QUEUE, job.id);
    }
    await boss.stop({ graceful: true, timeout: 10_000 });
    const timings = claimTimings(
      ctx.cluster.logSince(mark),
      tag,
      (_name, text) =>
        /SKIP LOCKED/.test(text) && /state = 'active'/.test(text),
    );
    return [{
      queue: "pg-boss 12.38.0",
      setting: "fetch of 1",
      table: `${fmtRows(pending)} pending + ${
        fmtRows(finished)
      } completed; ${size}`,
      timings,
      perRow: 1,
    }];
  } finally {
    await admin.end();
    await ctx.cluster.dropDatabase(DATABASE);
  }
}
