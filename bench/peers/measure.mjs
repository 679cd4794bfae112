// One throughput run: set up, enqueue N (timed), ANALYZE, drain (timed,
// with the cluster's CPU, its WAL and the machine's load read around it),
// check exactly-once, clean up.

import { cpuUsage } from "node:process";
import { machineTicks, TICKS_PER_SECOND } from "./cluster.mjs";

async function walLsn(cluster) {
  const db = await cluster.connect();
  try {
    const { rows: [r] } = await db.query(
      "select pg_current_wal_lsn()::text lsn",
    );
    return r.lsn;
  } finally {
    await db.end();
  }
}

async function walBytes(cluster, from, to) {
  const db = await cluster.connect();
  try {
    const { rows: [r] } = await db.query(
      "select pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn)::float8 bytes",
      [from, to],
    );
    return r.bytes;
  } finally {
    await db.end();
  }
}

/** Runs `run` once with `n` jobs; returns its figures and its exactly-once problems. */
export async function measure(ctx, run, n) {
  await run.setup(ctx);
  try {
    let started = performance.now();
    await run.enqueue(ctx, n);
    const enqueueSeconds = (performance.now() - started) / 1000;
    await run.analyze();

    const lsn = await walLsn(ctx.cluster);
    const pgTicks = ctx.cluster.cpuTicks();
    const machine = machineTicks();
    const node = cpuUsage();
    started = performance.now();
    await run.drain(ctx, n);
    const seconds = (performance.now() - started) / 1000;
    const nodeUsed = cpuUsage(node);
    const machineAfter = machineTicks();
    const pgSeconds = (ctx.cluster.cpuTicks() - pgTicks) / TICKS_PER_SECOND;
    const wal = await walBytes(ctx.cluster, lsn, await walLsn(ctx.cluster));

    const problems = await run.check(n);
    const total = machineAfter.total - machine.total;
    return {
      key: run.key,
      enqueuePerSecond: n / enqueueSeconds,
      processedPerSecond: n / seconds,
      seconds,
      busyPercent: (100 * (machineAfter.busy - machine.busy)) / total,
      stealPercent: (100 * (machineAfter.steal - machine.steal)) / total,
      nodePercent: (100 * (nodeUsed.user + nodeUsed.system)) / 1e6 / seconds,
      postgresPercent: (100 * pgSeconds) / seconds,
      pgCpuMsPerJob: (1000 * pgSeconds) / n,
      walBytesPerJob: wal / n,
      problems,
      note: run.note(),
    };
  } finally {
    await run.cleanup(ctx);
  }
}
