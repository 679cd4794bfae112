// Stands in for Supabase's edge runtime around one function under plain
// Deno. devstack runs a generated entry module that imports this file first
// and the function second, so everything here is in place before the
// function's own code runs:
//
// - Deno.serve binds the port devstack chose.
// - EdgeRuntime.waitUntil keeps background work going after the response and
//   returns the promise it was given, as the runtime does.
// - The wall clock: work still running that long after its request started
//   (the handler or its waitUntil work) ends the process, as the runtime
//   retires a worker. devstack logs the exit and starts the function again.
// - fetch() of a file: URL fails with a TypeError, as on the runtime.

import { AsyncLocalStorage } from "node:async_hooks";

// devstack's settings for this process; removed so the function sees only
// the env of a hosted function.
const port = Number(Deno.env.get("DEVSTACK_FUNCTION_PORT"));
const wallClockMs = Number(Deno.env.get("DEVSTACK_FUNCTION_WALL_CLOCK_MS"));
Deno.env.delete("DEVSTACK_FUNCTION_PORT");
Deno.env.delete("DEVSTACK_FUNCTION_WALL_CLOCK_MS");

/** When the request being handled started (ms since the epoch). */
const requestStart = new AsyncLocalStorage<number>();

/** Ends the process if `work` is still running at the wall clock. */
function boundByWallClock(work: Promise<unknown>, what: string): void {
  const started = requestStart.getStore() ?? Date.now();
  const timer = setTimeout(() => {
    console.error(
      `wall clock limit reached: ${what} still running ${wallClockMs} ms ` +
        "after its request started; the worker is shut down",
    );
    Deno.exit(1);
  }, Math.max(0, started + wallClockMs - Date.now()));
  work.then(
    () => clearTimeout(timer),
    (error) => {
      clearTimeout(timer);
      console.error(`${what} failed:`, error);
    },
  );
}

type Handler = (
  request: Request,
  info: unknown,
) => Response | Promise<Response>;

const serve = Deno.serve.bind(Deno);

// deno-lint-ignore no-explicit-any
(Deno as any).serve = (...args: unknown[]) => {
  const handler =
    args.find((arg) => typeof arg === "function") as Handler | undefined ??
      (args[0] as { handler?: Handler } | undefined)?.handler;
  if (!handler) throw new TypeError("Deno.serve needs a handler");
  return serve(
    { port, hostname: "127.0.0.1", onListen() {} },
    (request, info) =>
      requestStart.run(Date.now(), () => {
        const answer = Promise.resolve().then(() => handler(request, info));
        boundByWallClock(answer, "the request handler");
        return answer;
      }),
  );
};

// deno-lint-ignore no-explicit-any
(globalThis as any).EdgeRuntime = {
  waitUntil<T>(promise: Promise<T>): Promise<T> {
    boundByWallClock(Promise.resolve(promise), "EdgeRuntime.waitUntil work");
    return promise;
  },
};

const fetchAnything = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = input instanceof Request ? input.url : String(input);
  if (url.slice(0, 5).toLowerCase() === "file:") {
    return Promise.reject(
      new TypeError("NetworkError when attempting to fetch resource."),
    );
  }
  return fetchAnything(input, init);
};
