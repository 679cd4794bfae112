// How soon a request's completion reaches the screen on a stack without
// Realtime, where the pages poll: the request page (every 2 s) and the admin
// panel (every 10 s), in Chromium. Also how long a page takes to give up on
// Realtime and say it polls. Prints figures; asserts nothing about time.
//
// BENCH_LIVE_SAMPLES completions per page (default 5). Pauses the queue
// while it runs, so the stack's cron leaves the requests to the benchmark.
import { performance } from "node:perf_hooks";
import { addUser, launch, literal, signedIn, sql, sqlValue } from "../tests/stack.mjs";

const SAMPLES = Number(process.env.BENCH_LIVE_SAMPLES ?? 5);
const PAUSE_REASON = "bench live: requests completed by the benchmark";

/** Claims and completes one waiting request in one transaction; the queue stays paused. */
function complete(id) {
  const result = JSON.stringify({
    clips: [{ id: "bench-1", title: "Bench", audio_url: "https://cdn.example.test/b.mp3" }],
  });
  sql(`select public.resume_music_queue();
       select public.complete_music_request(c.id, c.lease_token, ${literal(result)}::jsonb)
         from public.claim_music_request(${literal(id)}, 'bench-live', 600) c;
       select public.pause_music_queue(${literal(PAUSE_REASON)})`);
}

/** Milliseconds from the commit of a completion to `shown` resolving. */
async function completionDelay(id, shown) {
  complete(id);
  const start = performance.now();
  await shown();
  return performance.now() - start;
}

const summary = (times) => {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return `median ${at(0.5).toFixed(0)} ms, max ${sorted.at(-1).toFixed(0)} ms ` +
    `(${sorted.length} samples: ${sorted.map((t) => t.toFixed(0)).join(", ")})`;
};

async function requestPage(browser, user) {
  const page = await signedIn(browser, user, "/");
  const toPolling = [];
  const toScreen = [];
  for (let i = 0; i < SAMPLES; i++) {
    const sent = performance.now();
    await page.getByRole("button", { name: "Envoyer" }).click();
    const watch = page.locator('[data-testid="watch"][data-status="pending"]');
    await watch.locator('[data-mode="polling"]').waitFor();
    toPolling.push(performance.now() - sent);
    const id = (await watch.locator(".mono").textContent()).trim();
    toScreen.push(
      await completionDelay(
        id,
        () =>
          page.locator('[data-testid="watch"][data-status="completed"]').waitFor({
            timeout: 30_000,
          }),
      ),
    );
  }
  await page.context().close();
  console.log(`request page: send → "polling" shown: ${summary(toPolling)}`);
  console.log(`request page: completion → shown (polling every 2 s): ${summary(toScreen)}`);
}

async function panel(browser, admin, user) {
  const page = await signedIn(browser, admin, "/admin/music-queue");
  await page.locator('[data-testid="live-mode"][data-mode="polling"]').waitFor();
  const toScreen = [];
  for (let i = 0; i < SAMPLES; i++) {
    const id = sqlValue(`select public.enqueue_music_request(p_emotion => 'calm',
                           p_user_id => ${literal(user.id)}) ->> 'id'`);
    await page.getByLabel("Rechercher (émotion ou id)").fill(id);
    await page.locator(`tr[data-id="${id}"][data-status="pending"]`).waitFor();
    toScreen.push(
      await completionDelay(
        id,
        () =>
          page.locator(`tr[data-id="${id}"][data-status="completed"]`).waitFor({
            timeout: 60_000,
          }),
      ),
    );
  }
  await page.context().close();
  console.log(`admin panel: completion → shown (polling every 10 s): ${summary(toScreen)}`);
}

const admin = addUser({ admin: true });
const user = addUser();
sql(`select public.pause_music_queue(${literal(PAUSE_REASON)})`);
const browser = await launch();
try {
  await requestPage(browser, user);
  await panel(browser, admin, user);
} finally {
  await browser.close();
  sql(`select public.resume_music_queue()`);
}
