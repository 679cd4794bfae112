// scripts/bench peers: our queue's SQL API side by side with graphile-worker
// and pg-boss, in interleaved rounds on one PostgreSQL cluster, then the
// server-side claim latency of each at a large finished history. Prints a
// markdown section and writes it to target/bench/peers.md.
//
// Environment (scripts/bench documents it):
//   BENCH_PEERS_N              jobs per throughput run        (default 20000)
//   BENCH_PEERS_REPS           rounds                          (default 3)
//   BENCH_PEERS_CLAIM_FINISHED finished rows beside the claims (default 1000000)
//   BENCH_PEERS_CLAIM_PENDING  waiting rows beside them        (default 10000)
//   BENCH_PEERS_CLAIMS         claims timed per queue          (default 2000)
//   BENCH_PEERS_QUICK=1        N 2000, 1 round, 100k finished, 500 claims
//   BENCH_PEERS_ONLY           some queues only, e.g. "ours" or "ours,graphile"
//                              (the ratios need the peers; 0 claims skips part B)
//   BENCH_PEERS_PG_PORT        the cluster's port              (default 55990)
//   BENCH_PEERS_PGDATA         the cluster's folder (default target/bench/peers-pgdata)

import { execFileSync } from "node:child_process";
import process from "node:process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { Cluster } from "./cluster.mjs";
import { graphileClaimLatency, graphileRun } from "./graphile.mjs";
import { measure } from "./measure.mjs";
import { oursClaimLatency, oursRun } from "./ours.mjs";
import { pgbossClaimLatency, pgbossRun } from "./pgboss.mjs";
import { report } from "./report.mjs";

const repoRoot = process.env.REPO_ROOT ?? join(import.meta.dirname, "../..");

function setting(name, normal, quick) {
  const value = process.env[`BENCH_PEERS_${name}`];
  if (value !== undefined && value !== "") return Number(value);
  return process.env.BENCH_PEERS_QUICK === "1" ? quick : normal;
}

const settings = {
  n: setting("N", 20000, 2000),
  reps: setting("REPS", 3, 1),
  claimFinished: setting("CLAIM_FINISHED", 1_000_000, 100_000),
  claimPending: setting("CLAIM_PENDING", 10_000, 10_000),
  claims: setting("CLAIMS", 2000, 500),
  port: setting("PG_PORT", 55990, 55990),
};

// The settings in table order; even rounds run them in reverse.
const RUNS = [
  ["graphile", () => graphileRun({ concurrency: 1 })],
  ["graphile", () => graphileRun({ concurrency: 4 })],
  ["pgboss", () => pgbossRun({ batchSize: 1, localConcurrency: 4 })],
  ["pgboss", () => pgbossRun({ batchSize: 5, localConcurrency: 4 })],
  ["ours", () => oursRun({ workers: 1, batch: 1 })],
  ["ours", () => oursRun({ workers: 4, batch: 1 })],
  ["ours", () => oursRun({ workers: 1, batch: 5 })],
  ["ours", () => oursRun({ workers: 4, batch: 5 })],
];

const only = process.env.BENCH_PEERS_ONLY?.split(",").map((q) => q.trim())
  .filter(Boolean);
const wanted = (queue) => !only?.length || only.includes(queue);

function log(message) {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function git(...args) {
  return execFileSync("git", ["-C", repoRoot, ...args], { encoding: "utf8" })
    .trim();
}

async function throughput(ctx) {
  const rounds = [];
  for (let round = 1; round <= settings.reps; round++) {
    const order = RUNS.map(([queue, make], index) => ({ queue, make, index }))
      .filter(({ queue }) => wanted(queue));
    if (round % 2 === 0) order.reverse();
    const results = [];
    for (const { make, index } of order) {
      const run = make();
      log(`round ${round}: ${run.queue}, ${run.setting}`);
      const result = await measure(ctx, run, settings.n);
      result.index = index;
      result.queue = run.queue;
      result.setting = run.setting;
      log(
        `  ${result.processedPerSecond.toFixed(0)} jobs/s, ${
          result.pgCpuMsPerJob.toFixed(2)
        } ms postgres CPU/job, ` +
          `${result.walBytesPerJob.toFixed(0)} B WAL/job, exactly-once ${
            result.problems.length
              ? "FAILED: " + result.problems.join("; ")
              : "OK"
          }`,
      );
      results.push(result);
    }
    rounds.push(results);
  }
  return rounds;
}

async function claimLatency(ctx) {
  const sizes = {
    pending: settings.claimPending,
    finished: settings.claimFinished,
    claims: settings.claims,
  };
  const phases = [
    ["graphile", () => graphileClaimLatency(ctx, sizes)],
    ["pgboss", () => pgbossClaimLatency(ctx, sizes)],
    ["ours", () => oursClaimLatency(ctx, { ...sizes, batches: [1, 5] })],
  ];
  const results = [];
  if (settings.claims <= 0) return results;
  for (const [queue, phase] of phases.filter(([queue]) => wanted(queue))) {
    log(
      `claim latency: ${queue} at ${sizes.pending} pending + ${sizes.finished} finished`,
    );
    results.push(...(await phase()));
  }
  return results;
}

async function main() {
  const started = new Date();
  const cluster = new Cluster(
    process.env.BENCH_PEERS_PGDATA ??
      join(repoRoot, "target/bench/peers-pgdata"),
    settings.port,
  );
  cluster.start();
  const ctx = { cluster, repoRoot };
  let rounds;
  let claims;
  let serverVersion;
  try {
    const db = await cluster.connect();
    serverVersion =
      (await db.query("show server_version")).rows[0].server_version;
    await db.end();
    rounds = await throughput(ctx);
    claims = await claimLatency(ctx);
  } finally {
    cluster.remove();
  }
  const finished = new Date();
  const dirty = git("status", "--porcelain", "--", "supabase", "devstack/sql")
    ? " (with uncommitted changes)"
    : "";
  const markdown = report({
    settings,
    rounds,
    claims,
    context: {
      commit: git("rev-parse", "--short", "HEAD") + dirty,
      started,
      finished,
      machine: `${cpus().length} × ${cpus()[0].model}, ${
        (totalmem() / 2 ** 30).toFixed(0)
      } GiB`,
      postgres: serverVersion,
      node: process.version,
      pg: JSON.parse(
        readFileSync(
          join(import.meta.dirname, "node_modules/pg/package.json"),
          "utf8",
        ),
      ).version,
    },
  });
  const out = join(repoRoot, "target/bench");
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "peers.md"), markdown);
  console.log(markdown);
  log(
    `written to target/bench/peers.md; wall time ${
      ((finished - started) / 60000).toFixed(1)
    } min`,
  );
  const failed = rounds.flat().filter((r) => r.problems.length);
  if (failed.length) {
    log(`exactly-once FAILED in ${failed.length} run(s)`);
    process.exitCode = 1;
  }
}

await main();
