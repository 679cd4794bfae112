// Polling for a condition that the database reaches on its own.

import { setTimeout as sleep } from "node:timers/promises";

/** Resolves once `condition()` is true; throws after `timeoutMs`. */
export async function waitUntil(condition, timeoutMs, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`still not done after ${timeoutMs} ms`);
    }
    await sleep(everyMs);
  }
}
