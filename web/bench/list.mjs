// The panel's reads at a million rows, timed through the gateway and
// PostgREST with an admin's session, as the browser makes them. Prints its
// markdown section on stdout (progress on stderr); asserts nothing about time.
//
// Adds BENCH_WEB_ROWS requests (default 1,000,000) of one new user, mostly
// finished and spread over 30 days, then deletes them again.
import { performance } from "node:perf_hooks";
import { addUser, env, literal, PASSWORD, sql, sqlValue } from "../tests/stack.mjs";

const ROWS = Number(process.env.BENCH_WEB_ROWS ?? 1_000_000);
const SAMPLES = 7;
const COLUMNS =
  "id,emotion,intensity,status,attempts,max_attempts,error_code,created_at,completed_at,failed_at";
const base = env("SUPABASE_URL");
const key = env("SUPABASE_PUBLISHABLE_KEY");

async function signIn(email) {
  const response = await fetch(`${base}/auth/v1/token?grant_type=password`, {
    method: "POST",
    headers: { apikey: key, "content-type": "application/json" },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  return (await response.json()).access_token;
}

/** The median time of `SAMPLES` GETs or RPCs, in ms, and the last row count. */
async function timed(token, path, body) {
  const times = [];
  let rows = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const start = performance.now();
    const response = await fetch(`${base}/rest/v1/${path}`, {
      method: body ? "POST" : "GET",
      headers: { apikey: key, authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await response.json();
    if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
    times.push(performance.now() - start);
    rows = Array.isArray(json) ? json.length : 1;
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], rows };
}

const admin = addUser({ admin: true });
const owner = addUser();
console.error(`inserting ${ROWS} requests…`);
let start = performance.now();
sql(`insert into public.music_generation_queue
       (user_id, emotion, prompt, status, attempts, created_at, queued_at, run_at,
        submitted_at, completed_at, failed_at, error_code, result)
     select ${literal(owner.id)}, (array['joy','calm','sad','anger','anxious','energetic','neutral'])[1 + n % 7],
            'bench', s.status, case when s.status = 'pending' then 0 else 1 end, t, t, t,
            case when s.status <> 'pending' then t + interval '10 s' end,
            case when s.status = 'completed' then t + interval '90 s' end,
            case when s.status = 'failed' then t + interval '90 s' end,
            case when s.status = 'failed' then 'bench' end,
            case when s.status = 'completed' then '{"clips":[]}'::jsonb end
       from generate_series(1, ${ROWS}) n
       cross join lateral (select now() - (n * interval '30 days' / ${ROWS}) as t) c
       cross join lateral (select case when n % 20 = 0 then 'failed'
                                       when n % 20 = 1 then 'pending'
                                       else 'completed' end as status) s;
     analyze public.music_generation_queue;`);
const filled = ((performance.now() - start) / 1000).toFixed(1);
const total = sqlValue("select count(*) from public.music_generation_queue");

try {
  const token = await signIn(admin.email);
  const list = `music_generation_queue?select=${COLUMNS}&order=created_at.desc,id.desc&limit=26`;
  // A cursor deep in the table: the row 900,000 places down (or the last).
  const [deepAt, deepId] = sql(`select created_at, id from public.music_generation_queue
                                 order by created_at desc, id desc
                                 offset ${Math.floor(ROWS * 0.9)} limit 1`)[0];
  const at = encodeURIComponent(`"${deepAt.replace(" ", "T")}"`);
  // As the panel pages (web/src/admin/api.ts fetchRequests).
  const after = `created_at=lte.${at}&or=(created_at.lt.${at},and(created_at.eq.${at},id.lt.${deepId}))`;
  const cases = [
    ["first page, all", list],
    ["first page, failed", `${list}&status=eq.failed`],
    ["first page, pending", `${list}&status=eq.pending`],
    ["first page, emotion sad", `${list}&emotion=eq.sad`],
    ["one id", `${list}&id=eq.${deepId}`],
    ["page at 90 % depth (keyset)", `${list}&${after}`],
    ["page at 90 % depth, failed", `${list}&status=eq.failed&${after}`],
    ["page at 90 % depth, emotion sad", `${list}&emotion=eq.sad&${after}`],
  ];
  console.log("## Admin panel reads\n");
  console.log(
    `The panel's reads through the gateway and PostgREST with an admin's session, as the ` +
      `browser makes them: the median of ${SAMPLES} of each, with ${ROWS} requests added ` +
      `(mostly finished, over 30 days; inserted in ${filled} s, ${total} rows in the table).\n`,
  );
  console.log("| read | median (ms) | rows |");
  console.log("|---|---:|---:|");
  for (const [name, path] of cases) {
    const { ms, rows } = await timed(token, path);
    console.log(`| ${name} | ${ms.toFixed(1)} | ${rows} |`);
  }
  for (const rpc of ["music_queue_stats", "music_queue_timeseries"]) {
    const { ms } = await timed(token, `rpc/${rpc}`, {});
    console.log(`| rpc ${rpc} | ${ms.toFixed(1)} | 1 |`);
  }
} finally {
  start = performance.now();
  sql(`delete from public.music_generation_queue where user_id = ${literal(owner.id)}`);
  console.error(`removed the bench rows in ${((performance.now() - start) / 1000).toFixed(1)} s`);
}
