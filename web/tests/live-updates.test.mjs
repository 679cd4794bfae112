// Realtime at run time, on a stack without it. The local stack, like a
// project whose gateway has no Realtime route, refuses the websocket to
// `/realtime/v1`: the request page and the admin panel must notice, poll,
// say so, and show a request's completion without a reload.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  addUser,
  ARTIFACTS,
  eventually,
  launch,
  literal,
  signedIn,
  sql,
  sqlValue,
} from "./stack.mjs";

const PAUSE_REASON = "live tests: nothing is claimed but by the test";

let browser;
let admin;
let user;

before(async () => {
  admin = addUser({ admin: true });
  user = addUser();
  // The stack's cron runs the worker every minute: paused, the queue keeps
  // the tests' requests waiting until a test completes them itself.
  sql(`select public.pause_music_queue(${literal(PAUSE_REASON)})`);
  browser = await launch();
});

after(async () => {
  sql(`select public.resume_music_queue()`);
  await browser?.close();
});

/**
 * Completes a waiting request the way the worker does (claim, then complete
 * with two clips), in one transaction that leaves the queue paused.
 */
function complete(id) {
  const result = JSON.stringify({
    clips: [1, 2].map((n) => ({
      id: `live-${n}`,
      title: `Live ${n}`,
      audio_url: `https://cdn.example.test/live-${n}.mp3`,
      duration: 90,
    })),
  });
  sql(`select public.resume_music_queue();
       select public.complete_music_request(c.id, c.lease_token, ${literal(result)}::jsonb)
         from public.claim_music_request(${literal(id)}, 'live-test', 600) c;
       select public.pause_music_queue(${literal(PAUSE_REASON)})`);
  assert.equal(
    sqlValue(`select status from public.music_generation_queue where id = ${literal(id)}`),
    "completed",
  );
}

/** The errors of the page's websockets to Realtime, as Chromium words them. */
function realtimeSocketErrors(page) {
  const errors = [];
  page.on("websocket", (socket) => {
    if (socket.url().includes("/realtime/v1/websocket")) {
      socket.on("socketerror", (e) => errors.push(e));
    }
  });
  return errors;
}

/** Waits for a websocket to Realtime that the gateway refused (404), not one left hanging. */
const refused = (errors, timeoutMs) =>
  eventually(
    "a refused Realtime websocket",
    () => errors.some((e) => /response code: 404/.test(e)),
    timeoutMs,
  );

/** Marks the document, so a reload (a new document) is seen. */
const markDocument = (page) => page.evaluate("window.sameDocument = true");
const sameDocument = (page) => page.evaluate("window.sameDocument === true");

test("the request page polls when Realtime is refused, and shows the completion without a reload", async () => {
  const page = await signedIn(browser, user, "/");
  const socketErrors = realtimeSocketErrors(page);
  await page.getByLabel("Émotion").selectOption("joy");
  await page.getByRole("button", { name: "Envoyer" }).click();
  const watch = page.locator('[data-testid="watch"][data-status="pending"]');
  await watch.waitFor();
  const id = (await watch.locator(".mono").textContent()).trim();

  const mode = watch.getByTestId("live-mode");
  await mode.and(page.locator('[data-mode="polling"]')).waitFor({ timeout: 10_000 });
  assert.equal(await mode.textContent(), "Actualisé toutes les 2 s");
  // The page did try Realtime, at run time, and the stack refused it.
  await refused(socketErrors, 10_000);
  await page.screenshot({ path: join(ARTIFACTS, "live-request-polling.png"), fullPage: true });

  await markDocument(page);
  complete(id);
  const done = page.locator('[data-testid="watch"][data-status="completed"]');
  await done.waitFor({ timeout: 10_000 });
  assert.equal(await done.locator("audio").count(), 2);
  assert.ok(await sameDocument(page), "the page was not reloaded");
  // A finished request is no longer watched.
  assert.equal(await done.getByTestId("live-mode").count(), 0);
  await page.screenshot({ path: join(ARTIFACTS, "live-request-completed.png"), fullPage: true });
  await page.context().close();
});

/** The panel's count of completed requests, as shown. */
const shownCompleted = async (page) =>
  Number(await page.getByTestId("count-completed").locator("dd").textContent());

test("the admin panel polls when Realtime is refused, and shows the completion without a reload", async () => {
  const id = sqlValue(
    `select public.enqueue_music_request(p_emotion => 'energetic', p_intensity => 0.6,
       p_context => 'live test', p_user_id => ${literal(user.id)}) ->> 'id'`,
  );
  const page = await signedIn(browser, admin, "/admin/music-queue");
  // The socket retries (after 1, 2, 5, then every 10 s): the next refusal is seen.
  const socketErrors = realtimeSocketErrors(page);
  const mode = page.getByTestId("live-mode");
  await mode.and(page.locator('[data-mode="polling"]')).waitFor({ timeout: 10_000 });
  assert.equal(await mode.textContent(), "Actualisé toutes les 10 s");

  await page.getByLabel("Rechercher (émotion ou id)").fill(id);
  await page.locator(`tr[data-id="${id}"][data-status="pending"]`).waitFor();
  const completedBefore = await shownCompleted(page);
  await refused(socketErrors, 15_000);

  await markDocument(page);
  complete(id);
  // One poll period, and the time the reads take.
  await page.locator(`tr[data-id="${id}"][data-status="completed"]`).waitFor({ timeout: 20_000 });
  await eventually(
    "the completed count to grow",
    async () => (await shownCompleted(page)) > completedBefore,
    15_000,
  );
  assert.ok(await sameDocument(page), "the panel was not reloaded");
  await page.screenshot({ path: join(ARTIFACTS, "live-panel-polling.png"), fullPage: true });
  await page.context().close();
});
