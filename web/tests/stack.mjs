// What the browser tests need from the local stack: its env (set by
// scripts/test from `devstack env`), SQL as the database operator, users
// made by `devstack user add`, the Suno simulator's control API, and a
// Chromium signed in through the app's own form.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests through scripts/test`);
  return value;
}

export const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), "..", "test-artifacts");
mkdirSync(ARTIFACTS, { recursive: true });

/** Runs `query` with psql as the database operator; the rows as arrays of fields. */
export function sql(query) {
  const out = execFileSync(
    "psql",
    [env("SUPABASE_DB_URL"), "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", query],
    { encoding: "utf8" },
  );
  return out.split("\n").filter((line) => line !== "").map((line) => line.split("\t"));
}

/** A single value. */
export const sqlValue = (query) => sql(query)[0]?.[0];

/** A SQL string literal. */
export const literal = (text) => `'${String(text).replaceAll("'", "''")}'`;

export const PASSWORD = "correct horse battery staple";

/** A new user who can sign in, made with `devstack user add`: {id, email}. */
export function addUser({ admin = false } = {}) {
  const email = `web-${randomUUID()}@example.test`;
  const args = ["user", "add", "--email", email, "--password", PASSWORD];
  if (admin) args.push("--admin");
  const id = execFileSync(env("DEVSTACK_BIN"), args, { encoding: "utf8" }).trim();
  return { id, email };
}

/** The Suno simulator's control API (`/__sim/...`). */
export async function sim(method, path, body) {
  const response = await fetch(`${env("SUNO_API_BASE_URL")}/__sim${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`/__sim${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Calls a function with the secret key, as cron does. */
export async function callFunction(path, init = {}) {
  const key = env("SUPABASE_SECRET_KEY");
  const response = await fetch(`${env("SUPABASE_URL")}/functions/v1/${path}`, {
    method: "POST",
    ...init,
    headers: { apikey: key, authorization: `Bearer ${key}`, "content-type": "application/json" },
  });
  return { status: response.status, json: await response.json().catch(() => null) };
}

export const launch = () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    // The tests run as root in CI containers, where Chromium's sandbox cannot
    // start; and a test's play() comes without the user's click a person gives.
    args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
  });

export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

/** A page of the app at `path`, signed in as `user` through the sign-in form. */
export async function signedIn(browser, user, path, viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.on("pageerror", (error) => console.error(`page error: ${error.message}`));
  await page.goto(`${env("WEB_URL")}${path}`);
  await page.getByLabel("E-mail").fill(user.email);
  await page.getByLabel("Mot de passe").fill(PASSWORD);
  await page.getByRole("button", { name: "Se connecter" }).click();
  await page.getByRole("button", { name: "Se déconnecter" }).waitFor();
  return page;
}

/** Waits until `check()` is truthy (polling), or fails naming `what`. */
export async function eventually(what, check, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
