// The admin panel, the status badge and the request page in a real Chromium
// against the local stack, signed in through the app's form. Tests in this
// file run one after another on one database; each reads the database
// itself for what it expects.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  addUser,
  ARTIFACTS,
  callFunction,
  DESKTOP,
  eventually,
  launch,
  literal,
  PHONE,
  signedIn,
  sim,
  sql,
} from "./stack.mjs";

const CANCELLED_MESSAGE = "Annulé manuellement par un administrateur";
const REPO = join(import.meta.dirname, "..", "..");
const hasFunction = (name) => existsSync(join(REPO, "supabase", "functions", name, "index.ts"));

let browser;
let admin;
let user;
const seeded = {};

/** `n` new requests of `user`, as the function enqueues them: their ids. */
function enqueue(emotion, n, priority = 5) {
  return sql(
    `select public.enqueue_music_request(p_emotion => ${literal(emotion)}, p_intensity => 0.7,
       p_context => 'browser test', p_user_id => ${literal(user.id)},
       p_priority => ${priority}) ->> 'id'
       from generate_series(1, ${n})`,
  ).map(([id]) => id);
}

/** Claims the `n` most urgent requests: [id, lease token] of each, in claim order. */
const claim = (n) =>
  sql(`select id, lease_token from public.claim_music_requests('browser-test', ${n}, 600)
        order by priority, queued_at, id`);

const clips = (tag) =>
  JSON.stringify({
    clips: [1, 2].map((n) => ({
      id: `${tag}-${n}`,
      title: `Browser ${tag} ${n}`,
      audio_url: `https://cdn.example.test/${tag}-${n}.mp3`,
      duration: 120,
    })),
  });

const statusOf = (id) =>
  sql(`select status, coalesce(error_message, '') from public.music_generation_queue
        where id = ${literal(id)}`)[0];

before(async () => {
  admin = addUser({ admin: true });
  user = addUser();
  // A run that stopped half-way may have left the queue paused, and urgent
  // requests of its own that would be claimed before this run's.
  sql(`select public.configure_music_queue(p_max_pending_per_user => 1000, p_max_per_run => 0);
       select public.resume_music_queue();
       select public.admin_cancel_music_request(id) from public.music_generation_queue
        where status = 'pending' and priority = 0`);
  // 3 completed, 2 failed, 3 processing, then 4 pending. Priority 0: these
  // are claimed before anything an earlier run left waiting.
  enqueue("joy", 8, 0);
  const claimed = claim(8);
  for (const [id, token] of claimed.slice(0, 3)) {
    sql(`select public.complete_music_request(${literal(id)}, ${literal(token)},
           ${literal(clips(id.slice(0, 8)))}::jsonb)`);
  }
  for (const [id, token] of claimed.slice(3, 5)) {
    sql(`select public.fail_music_request(${literal(id)}, ${literal(token)}, 'bad_request',
           'refused by the provider (browser test)')`);
  }
  seeded.completed = claimed[0][0];
  seeded.failed = claimed[3][0];
  seeded.failedToo = claimed[4][0];
  seeded.pending = enqueue("calm", 4);
  // A steady queue while the panel is read: the stack's cron runs the worker
  // every minute. The tests that need the worker resume it.
  sql(`select public.pause_music_queue('browser tests: a steady queue')`);
  // Task lives 100 times faster: a generation finishes in about a second.
  await sim("PATCH", "/settings", { time_scale: 100 });
  browser = await launch();
});

after(async () => {
  sql(`select public.resume_music_queue()`);
  await sim("DELETE", "/faults").catch(() => {});
  await sim("PATCH", "/settings", { time_scale: 1 }).catch(() => {});
  await browser?.close();
});

/**
 * At any width the page fits: wide tables scroll inside their card, not the
 * page. After a resize the charts take their new width a frame later.
 */
async function assertNoSideScroll(page) {
  const widths = () =>
    page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]");
  await eventually("the page to fit its width", async () => {
    const [pageWidth, viewportWidth] = await widths();
    return pageWidth <= viewportWidth;
  }, 5_000).catch(async () => {
    const [pageWidth, viewportWidth] = await widths();
    assert.fail(`page ${pageWidth} px wide in ${viewportWidth} px`);
  });
}

/** The panel's count for `status`, as shown. */
const shownCount = async (page, status) =>
  Number(await page.getByTestId(`count-${status}`).locator("dd").textContent());

test("the panel shows the counts that are in the database", async () => {
  const page = await signedIn(browser, admin, "/admin/music-queue");
  await page.getByTestId("count-pending").waitFor();
  const [[pending, processing, completed, failed, cancelled]] = sql(`
    select count(*) filter (where status = 'pending'),
           count(*) filter (where status = 'processing'),
           count(*) filter (where status = 'completed'),
           count(*) filter (where status = 'failed' and error_code is distinct from 'cancelled'),
           count(*) filter (where status = 'failed' and error_code = 'cancelled')
      from public.music_generation_queue`);
  assert.ok(Number(pending) >= 4 && Number(completed) >= 3, "the seeded rows are there");
  assert.deepEqual(
    {
      pending: await shownCount(page, "pending"),
      processing: await shownCount(page, "processing"),
      completed: await shownCount(page, "completed"),
      failed: await shownCount(page, "failed"),
      cancelled: await shownCount(page, "cancelled"),
    },
    {
      pending: Number(pending),
      processing: Number(processing),
      completed: Number(completed),
      failed: Number(failed),
      cancelled: Number(cancelled),
    },
  );
  await page.screenshot({ path: join(ARTIFACTS, "panel-desktop.png"), fullPage: true });
  await page.setViewportSize(PHONE);
  await assertNoSideScroll(page);
  await page.screenshot({ path: join(ARTIFACTS, "panel-phone.png"), fullPage: true });
  await page.context().close();
});

/** Finds one request in the list by its id and confirms `action` on its row. */
async function confirmOnRow(page, id, action) {
  await page.getByLabel("Rechercher (émotion ou id)").fill(id);
  const row = page.locator(`tr[data-id="${id}"]`);
  await row.getByRole("button", { name: action }).click();
  await row.getByRole("dialog").getByRole("button", { name: "Confirmer" }).click();
}

test("Relancer and Annuler change the database as stated, and the list shows it", async () => {
  const page = await signedIn(browser, admin, "/admin/music-queue");

  const outcome = page.getByTestId("row-action-outcome");
  await confirmOnRow(page, seeded.failed, "Relancer");
  await outcome.filter({ hasText: `Relancer ${seeded.failed.slice(0, 8)} — Fait : En attente` })
    .waitFor();
  assert.deepEqual(statusOf(seeded.failed), ["pending", ""]);
  await page.locator(`tr[data-id="${seeded.failed}"][data-status="pending"]`).waitFor();

  await confirmOnRow(page, seeded.pending[0], "Annuler");
  await outcome.filter({ hasText: `Annuler ${seeded.pending[0].slice(0, 8)} — Fait : Échouée` })
    .waitFor();
  assert.deepEqual(statusOf(seeded.pending[0]), ["failed", CANCELLED_MESSAGE]);
  await page.locator(`tr[data-id="${seeded.pending[0]}"][data-status="failed"]`).waitFor();
  await page.context().close();
});

test("a slow answer for an older filter never replaces the newer list", async () => {
  const page = await signedIn(browser, admin, "/admin/music-queue");
  await page.getByTestId("count-pending").waitFor();
  // The failed requests, unsearched, answer late; the search for joy at once.
  await page.route("**/rest/v1/music_generation_queue?*", async (route) => {
    const url = route.request().url();
    if (url.includes("status=eq.failed") && !url.includes("emotion=")) {
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
    await route.continue();
  });
  await page.getByLabel("Statut").selectOption("failed");
  await page.getByLabel("Rechercher (émotion ou id)").fill("Joie");
  await page.waitForTimeout(2500);
  const emotions = await page.locator("tr[data-id] td:nth-child(2)").allTextContents();
  assert.ok(emotions.length > 0);
  assert.deepEqual(emotions.filter((text) => !text.startsWith("Joie")), []);
  await page.context().close();
});

test("a request's details show what was asked, sent and done, with its history", async () => {
  for (const [name, viewport] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    const page = await signedIn(browser, admin, "/admin/music-queue", viewport);
    await page.getByLabel("Rechercher (émotion ou id)").fill(seeded.completed);
    await page.locator(`tr[data-id="${seeded.completed}"] td button`).first().click();
    const details = page.getByTestId("details");
    await details.locator(".events li").first().waitFor();
    assert.equal(await details.getByTestId("detail-status").textContent(), "Terminée");
    const events = await details.locator(".events li strong").allTextContents();
    assert.deepEqual(events, ["enqueued", "claimed", "completed"]);
    assert.equal(await details.locator("audio").count(), 2);
    await details.screenshot({ path: join(ARTIFACTS, `details-${name}.png`) });
    await page.context().close();
  }
});

test("a failed request's details show its error and its fallback track", async () => {
  const [[trackId, audioUrl]] = sql(`select t.id, t.audio_url from public.music_generation_queue q
                                       join public.music_tracks t on t.id = q.fallback_track_id
                                      where q.id = ${literal(seeded.failedToo)}`);
  assert.ok(trackId, "the seed library gave the failed request a fallback");
  const page = await signedIn(browser, admin, "/admin/music-queue");
  await page.getByLabel("Rechercher (émotion ou id)").fill(seeded.failedToo);
  await page.locator(`tr[data-id="${seeded.failedToo}"] td button`).first().click();
  const details = page.getByTestId("details");
  await details.getByRole("heading", { name: "Morceau de secours" }).waitFor();
  assert.match(await details.textContent(), /bad_request refused by the provider/);
  assert.equal(await details.locator("audio").getAttribute("src"), audioUrl);
  const events = await details.locator(".events li strong").allTextContents();
  assert.deepEqual(events, ["enqueued", "claimed", "failed", "fallback"]);
  await page.context().close();
});

test("the CSV export downloads a file whose rows equal the filtered list", async () => {
  const page = await signedIn(browser, admin, "/admin/music-queue");
  await page.getByLabel("Statut").selectOption("completed");
  await page.getByLabel("Rechercher (émotion ou id)").fill("joy");
  // Every completed joy request, as the list orders them; the list shows the
  // first page of them, the file all of them.
  const expected = sql(`select id from public.music_generation_queue
                         where status = 'completed' and emotion = 'joy'
                         order by created_at desc, id desc`).map(([id]) => id);
  assert.ok(expected.length >= 3, "the seeded completed requests are there");
  const listed = () =>
    page.locator("tr[data-id]").evaluateAll((rows) => rows.map((row) => row.dataset.id));
  await eventually("the filtered list", async () => {
    const shown = await listed();
    return shown.length === Math.min(expected.length, 25) && shown[0] === expected[0];
  });
  const shown = await listed();
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Exporter CSV" }).click(),
  ]);
  const file = join(ARTIFACTS, download.suggestedFilename());
  await download.saveAs(file);
  const [header, ...lines] = readFileSync(file, "utf8").trimEnd().split("\r\n");
  assert.equal(header.split(",")[0], "id");
  const rows = lines.map((line) => line.split(","));
  assert.deepEqual(rows.map((row) => row[0]), expected);
  assert.deepEqual(shown, expected.slice(0, shown.length));
  assert.ok(rows.every((row) => row[1] === "joy" && row[3] === "completed"));
  await page.context().close();
});

test("the list pages on the server, newest first, without a gap or a repeat", async () => {
  // One statement: the 30 requests share their created_at, so only the id
  // orders them, and a page boundary falls among equal times.
  enqueue("neutral", 30);
  const expected = sql(`select id from public.music_generation_queue where emotion = 'neutral'
                         order by created_at desc, id desc`).map(([id]) => id);
  const page = await signedIn(browser, admin, "/admin/music-queue");
  await page.getByLabel("Rechercher (émotion ou id)").fill("Neutre");
  const ids = () => page.locator("tr[data-id]").evaluateAll((rows) => rows.map((r) => r.dataset.id));
  await eventually("the first page", async () => (await ids())[0] === expected[0]);
  const first = await ids();
  await page.getByRole("button", { name: "Plus anciennes" }).click();
  await eventually("the second page", async () => (await ids())[0] !== first[0]);
  const second = await ids();
  assert.deepEqual([...first, ...second], expected.slice(0, 50));
  assert.equal(
    await page.getByRole("button", { name: "Plus anciennes" }).isDisabled(),
    expected.length <= 50,
  );
  await page.getByRole("button", { name: "Plus récentes" }).click();
  await eventually("the first page again", async () => (await ids())[0] === expected[0]);
  await page.context().close();
});

test("pause, resume and the settings change the queue's rows", async () => {
  const queueRow = () =>
    sql(`select paused, batch_size, submit_spacing_ms from public.music_queues
          where name = 'default'`)[0];
  const page = await signedIn(browser, admin, "/admin/music-queue");
  const controls = page.locator(".controls");
  const confirm = async (button, name = button) => {
    await controls.getByRole("button", { name: button, exact: true }).first().click();
    await controls.getByRole("dialog").getByRole("button", { name: "Confirmer" }).click();
    await controls.getByRole("status").filter({ hasText: name }).waitFor();
  };

  // The tests keep the queue paused (see `before`).
  await confirm("Reprendre", "File active");
  assert.equal(queueRow()[0], "f");
  await confirm("Mettre en pause", "File en pause");
  assert.equal(queueRow()[0], "t");

  await controls.getByLabel("Taille de lot").fill("7");
  await controls.getByLabel("Espacement (ms)").fill("1500");
  await confirm("Enregistrer", "Taille de lot 7");
  assert.deepEqual(queueRow(), ["t", "7", "1500"]);

  await controls.getByLabel("Limite Suno (envois / fenêtre)").fill("12");
  await controls.getByLabel("Fenêtre (s)").fill("10");
  await controls.getByRole("button", { name: "Enregistrer" }).nth(1).click();
  await controls.getByRole("dialog").getByRole("button", { name: "Confirmer" }).click();
  await controls.getByRole("status").filter({ hasText: "12 / 10 s" }).waitFor();
  assert.deepEqual(
    sql(`select capacity, window_seconds::float8 from public.music_rate_limits
          where name = 'suno_submit'`),
    [["12", "10"]],
  );
  // Back to the product's defaults for the tests after this one.
  sql(`select public.configure_music_queue(p_batch_size => 5, p_submit_spacing_ms => 2000);
       select public.set_rate_limit('suno_submit', 20, 10)`);
  await page.context().close();
});

test("the panel speaks French first, and English when asked", async () => {
  const page = await signedIn(browser, admin, "/admin/music-queue");
  const controls = page.locator(".controls");
  await controls.getByRole("button", { name: "Lancer le Worker" }).waitFor();
  await page.getByRole("button", { name: "English" }).click();
  await controls.getByRole("button", { name: "Run the worker" }).waitFor();
  assert.equal(await page.getByTestId("count-failed").locator("dt").textContent(), "Failed");
  assert.equal(await page.evaluate("document.documentElement.lang"), "en");
  await page.screenshot({ path: join(ARTIFACTS, "panel-desktop-en.png") });
  await page.getByRole("button", { name: "Français" }).click();
  await controls.getByRole("button", { name: "Lancer le Worker" }).waitFor();
  await page.context().close();
});

test("a signed-in user who is not an admin sees the refusal", async () => {
  const page = await signedIn(browser, user, "/admin/music-queue");
  await page.getByTestId("refusal").waitFor();
  assert.match(await page.getByTestId("refusal").textContent(), /réservée aux administrateurs/);
  assert.equal(await page.getByTestId("count-pending").count(), 0);
  await page.context().close();
});

/** Probes the provider with the secret key until the stored state is `state`. */
async function probeUntil(state) {
  await eventually(`the provider recorded as ${state}`, async () => {
    const { json } = await callFunction("suno-status-check");
    return json?.state === state;
  });
}

/** What the browser does when the user comes back to the tab. */
const regainFocus = (page) => page.evaluate('window.dispatchEvent(new Event("focus"))');

test("the badge turns to down when the simulator fails, and back to up when it recovers", async () => {
  const page = await signedIn(browser, user, "/");
  const badge = page.getByRole("status").and(page.locator(".status-badge"));
  await page.locator('.status-badge[data-state="up"]').waitFor();

  await sim("POST", "/faults", { kind: "http_error", status: 503, endpoint: "credit" });
  await probeUntil("down");
  // The badge reads again when the tab regains focus.
  await regainFocus(page);
  await page.locator('.status-badge[data-state="down"]').waitFor();
  assert.match(await badge.getAttribute("aria-label"), /Hors service/);
  assert.match(await badge.textContent(), /Hors service/);

  await sim("DELETE", "/faults");
  await probeUntil("up");
  await regainFocus(page);
  await page.locator('.status-badge[data-state="up"]').waitFor();
  assert.match(await badge.getAttribute("aria-label"), /Opérationnel/);
  await page.context().close();
});

test("the request page, as a user sees it", async () => {
  for (const [name, viewport] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    const page = await signedIn(browser, user, "/", viewport);
    await page.getByRole("button", { name: "Envoyer" }).waitFor();
    await assertNoSideScroll(page);
    await page.screenshot({ path: join(ARTIFACTS, `request-page-${name}.png`), fullPage: true });
    await page.context().close();
  }
});

test(
  "Lancer le Worker shows the run's summary, and queued requests complete",
  { skip: !hasFunction("music-queue-worker") && "music-queue-worker is not on this branch yet" },
  async () => {
    // Two urgent requests, and a run that claims only them: the others the
    // tests left waiting stay for later runs.
    const queued = enqueue("energetic", 2, 0);
    sql(`select public.configure_music_queue(p_max_per_run => 2);
         select public.resume_music_queue()`);
    const page = await signedIn(browser, admin, "/admin/music-queue");
    const controls = page.locator(".controls");
    await controls.getByRole("button", { name: "Lancer le Worker" }).click();
    await controls.getByRole("dialog").getByRole("button", { name: "Confirmer" }).click();
    const summary = controls.getByRole("status").getByTestId("run-summary");
    await summary.waitFor({ timeout: 60_000 });
    assert.match(await summary.textContent(), /claimed 2 · submitted 2/);
    // The simulator finishes a task within seconds; later runs poll it to completion.
    await eventually("the queued requests completed", async () => {
      const done = queued.every((id) => statusOf(id)[0] === "completed");
      if (!done) await callFunction("music-queue-worker?wait=true");
      return done;
    }, 60_000);
    sql(`select public.configure_music_queue(p_max_per_run => 0)`);
    await page.screenshot({ path: join(ARTIFACTS, "panel-after-run.png"), fullPage: true });
    await page.context().close();
  },
);

test(
  "the request page takes a request and plays its tracks once they are done",
  {
    // The worker runs the request to completion.
    skip: !(hasFunction("emotion-music-ai") && hasFunction("music-queue-worker")) &&
      "emotion-music-ai or music-queue-worker is not on this branch yet",
  },
  async () => {
    // One request waiting before ours, and a paused queue: ours is queued second.
    sql(`select public.pause_music_queue('browser tests: a steady queue');
         select public.admin_cancel_music_request(id) from public.music_generation_queue
          where status = 'pending'`);
    enqueue("calm", 1);
    const page = await signedIn(browser, user, "/");
    await page.getByLabel("Émotion").selectOption("sad");
    await page.getByLabel("Contexte").fill("a rainy evening");
    await page.getByRole("button", { name: "Envoyer" }).click();
    const watch = page.getByTestId("watch");
    await page.locator('[data-testid="watch"][data-status="pending"]').waitFor();
    assert.match(await watch.textContent(), /En file d'attente.*Position : 2/);
    const id = (await watch.locator(".mono").textContent()).trim();
    assert.deepEqual(statusOf(id), ["pending", ""]);

    sql(`select public.resume_music_queue()`);
    await eventually("the request completed", async () => {
      if (statusOf(id)[0] === "completed") return true;
      await callFunction("music-queue-worker?wait=true");
      return false;
    }, 90_000);
    await page.locator('[data-testid="watch"][data-status="completed"]').waitFor();
    const audio = watch.locator("audio");
    assert.equal(await audio.count(), 2);
    const played = await audio.first().evaluate(async (element) => {
      await element.play();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return element.currentTime;
    });
    assert.ok(played > 0, `the first clip played (currentTime ${played})`);
    await page.screenshot({ path: join(ARTIFACTS, "request-page-completed.png"), fullPage: true });
    await page.context().close();
  },
);
