// The markdown section: how it was run, table A (throughput and cost per
// job), the ratios, table B (server-side claim latency) and the targets.

const int = (x) => Math.round(x).toLocaleString("en-US");
const ms = (x) => x.toFixed(3);
const two = (x) => x.toFixed(2);

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

function spread(values, format) {
  if (values.length === 1) return format(values[0]);
  return `${format(median(values))} (${format(Math.min(...values))}–${
    format(Math.max(...values))
  })`;
}

/** Runs of each setting across rounds, in table order. */
function bySetting(rounds) {
  const settings = new Map();
  for (const round of rounds) {
    for (const run of round) {
      if (!settings.has(run.index)) settings.set(run.index, []);
      settings.get(run.index).push(run);
    }
  }
  return [...settings.entries()].sort(([a], [b]) => a - b).map(([, runs]) =>
    runs
  );
}

function tableA(settings) {
  const lines = [
    "| queue | setting | enqueue jobs/s | **processed jobs/s** median (min–max) | per round | machine busy % | steal % | node % of a core | postgres % of a core | **Postgres CPU ms per job** | **WAL bytes per job** | exactly-once |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const runs of settings) {
    const pick = (field) => runs.map((r) => r[field]);
    const failed = runs.filter((r) => r.problems.length).length;
    lines.push(
      `| ${runs[0].queue} | ${runs[0].setting} | ${
        spread(pick("enqueuePerSecond"), int)
      } | **${spread(pick("processedPerSecond"), int)}** | ` +
        `${pick("processedPerSecond").map(int).join(", ")} | ${
          int(median(pick("busyPercent")))
        } | ${int(median(pick("stealPercent")))} | ` +
        `${int(median(pick("nodePercent")))} | ${
          int(median(pick("postgresPercent")))
        } | **${two(median(pick("pgCpuMsPerJob")))}** | ` +
        `**${int(median(pick("walBytesPerJob")))}** | ${
          failed
            ? `FAILED in ${failed} of ${runs.length}`
            : `OK (${runs.length} of ${runs.length})`
        } |`,
    );
  }
  return lines;
}

function find(settings, key) {
  return settings.find((runs) => runs[0].key === key);
}

/** processed jobs/s of ours over a peer's: ratio of medians and within each round. */
function ratio(settings, ours, peer) {
  const a = find(settings, ours);
  const b = find(settings, peer);
  if (!a || !b) return null;
  const med = (runs) => median(runs.map((r) => r.processedPerSecond));
  const cpu = (runs) => median(runs.map((r) => r.pgCpuMsPerJob));
  const perRound = a.map((run, i) =>
    run.processedPerSecond / b[i].processedPerSecond
  );
  return {
    ours: a,
    peer: b,
    value: med(a) / med(b),
    oursMedian: med(a),
    peerMedian: med(b),
    perRound,
    cpuRatio: cpu(a) / cpu(b),
  };
}

function ratios(settings) {
  const pairs = [
    ["ours-4x1", "graphile-c4"],
    ["ours-4x5", "pgboss-5x4"],
    ["ours-1x1", "graphile-c1"],
    ["ours-4x1", "pgboss-1x4"],
  ];
  const lines = [
    "| ours / peer | ours median | peer median | **ratio of medians** | within each round | Postgres CPU per job, ours / peer |",
    "|---|---|---|---|---|---|",
  ];
  for (const [ours, peer] of pairs) {
    const r = ratio(settings, ours, peer);
    if (!r) continue;
    lines.push(
      `| ${r.ours[0].setting} / ${r.peer[0].queue} ${r.peer[0].setting} | ${
        int(r.oursMedian)
      } | ${int(r.peerMedian)} | ` +
        `**${two(r.value)}** | ${r.perRound.map(two).join(", ")} | ${
          two(r.cpuRatio)
        }× |`,
    );
  }
  return lines;
}

function claimStats(timings) {
  const sorted = [...timings].sort((a, b) => a - b);
  return {
    median: median(sorted),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1],
    n: sorted.length,
  };
}

function tableB(claims) {
  const lines = [
    "| queue | claim | table | **server-side claim ms** median / p95 / p99 / max (n) | per row (median) |",
    "|---|---|---|---|---|",
  ];
  for (const c of claims) {
    if (c.timings.length === 0) {
      lines.push(
        `| ${c.queue} | ${c.setting} | ${c.table} | no claim found in the log | |`,
      );
      continue;
    }
    const s = claimStats(c.timings);
    lines.push(
      `| ${c.queue} | ${c.setting} | ${c.table} | **${ms(s.median)}** / ${
        ms(s.p95)
      } / ${ms(s.p99)} / ${ms(s.max)} (${s.n}) | ${ms(s.median / c.perRow)} |`,
    );
  }
  return lines;
}

function targets(settings, claims, claimFinished) {
  const met = (ok) => (ok ? "**met**" : "**not met**");
  const row = (target, measured, ok) =>
    measured === null
      ? `| ${target} | not measured in this run | |`
      : `| ${target} | ${measured} | ${met(ok)} |`;
  const versus = (r) =>
    r && `${two(r.value)}× (${int(r.oursMedian)} against ${int(r.peerMedian)})`;
  const gw = ratio(settings, "ours-4x1", "graphile-c4");
  const boss = ratio(settings, "ours-4x5", "pgboss-5x4");
  const claim = claims.find((c) => c.queue === "ours" && c.perRow === 1);
  const claimMedian = claim?.timings.length
    ? claimStats(claim.timings).median
    : null;
  const walMedians = settings
    .filter((runs) => runs[0].key.startsWith("ours-"))
    .map((runs) => median(runs.map((r) => r.walBytesPerJob)));
  const worstWal = walMedians.length ? Math.max(...walMedians) : null;
  return [
    "| target | measured | |",
    "|---|---|---|",
    row(
      "processed jobs/s ≥ graphile-worker's at 4 × 1 (concurrency 4)",
      versus(gw),
      gw?.value >= 1,
    ),
    row(
      "processed jobs/s ≥ pg-boss's at 5 × 4 (batchSize 5 × localConcurrency 4)",
      versus(boss),
      boss?.value >= 1,
    ),
    row(
      `server-side claim ≤ 0.3 ms at ${
        int(claimFinished)
      } finished rows (batch 1, median)`,
      claimMedian === null ? null : `${ms(claimMedian)} ms`,
      claimMedian <= 0.3,
    ),
    row(
      "WAL ≤ 1.5 kB (1,500 bytes) per job, every setting of ours (median)",
      worstWal === null ? null : `at most ${int(worstWal)} bytes`,
      worstWal <= 1500,
    ),
  ];
}

export function report({ settings: s, rounds, claims, context: c }) {
  const settings = bySetting(rounds);
  const notes = [...new Set(rounds.flat().map((r) => r.note).filter(Boolean))];
  const minutes = ((c.finished - c.started) / 60000).toFixed(1);
  const steal = median(rounds.flat().map((r) => r.stealPercent));
  return [
    "## Side by side with graphile-worker and pg-boss (`scripts/bench peers`)",
    "",
    `Our SQL API (the checkout's migrations at \`${c.commit}\`) against graphile-worker 0.18.0 and pg-boss 12.38.0 on one`,
    `PostgreSQL cluster, in ${s.reps} interleaved round${
      s.reps > 1 ? "s" : ""
    } (even rounds in reverse order). Only the ratios`,
    "within this run mean anything; absolute figures depend on the machine and on what else runs on it.",
    "",
    `- **When**: ${c.started.toISOString().slice(0, 16).replace("T", " ")}–${
      c.finished.toISOString().slice(11, 16)
    } UTC, ${minutes} min wall time.`,
    `- **Settings**: N = ${int(s.n)} jobs per run, ${s.reps} round${
      s.reps > 1 ? "s" : ""
    }; claim latency at ${int(s.claimPending)} pending + ${
      int(s.claimFinished)
    } finished rows, ${int(s.claims)} claims per queue.`,
    `- **Machine**: ${c.machine}; client and server share it over TCP loopback. Median CPU steal over the runs: ${
      int(steal)
    }%.`,
    `- **PostgreSQL** ${c.postgres}, the benchmark's own cluster: shared_buffers 256MB, fsync and synchronous_commit on. **Client**: node ${c.node}, pg ${c.pg}.`,
    "- **Method**: every run starts from a fresh database, enqueues N jobs (timed), runs ANALYZE, then drains them (timed).",
    "  Postgres CPU is the cluster's processes' CPU time from /proc over the drain, divided by N; WAL is the",
    "  `pg_current_wal_lsn()` difference over the drain, divided by N.",
    "  - graphile-worker: its runner as shipped; pg-boss: its workers, polling every 0.5 s and fetching again at once while fetches come back full.",
    "  - ours: the platform stand-ins of `devstack/sql` (without pg_cron), every migration in name order, the seed; N requests and their",
    "    `enqueued` events in one INSERT (not the API); W connections as `service_role`, each looping `claim_music_requests(worker, B, 120, 'bench')`",
    `    and completing what it claimed (${
      notes.join("; ") || "complete_music_request per row"
    }).`,
    "  - Exactly-once, every run: on the client, every job handled (ours: claimed and completed) once; in the database, graphile-worker's job",
    "    table empty, pg-boss's N jobs completed at their first fetch, ours' N requests completed with attempts = 1 and no lease, one",
    "    `enqueued`, `claimed` and `completed` event each and two generated tracks each.",
    "",
    "### A. Throughput and cost per job",
    "",
    ...tableA(settings),
    "",
    "### Ratios (processed jobs/s)",
    "",
    ...ratios(settings),
    "",
    "### B. Single-claim latency, server-side",
    "",
    "Bind + execute of each claim statement (simple protocol: the statement) from the server's log",
    "(`log_min_duration_statement = 0` on the claiming sessions only), while one worker claims and completes",
    "(graphile-worker: `get_job`; pg-boss: its fetch; ours: `claim_music_requests`, each claimed row completed untimed).",
    "",
    ...tableB(claims),
    "",
    "### Targets",
    "",
    ...targets(settings, claims, s.claimFinished),
    "",
  ].join("\n");
}
