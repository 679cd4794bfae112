// Starts one edge function the way Supabase's edge runtime does, under plain
// Deno: Deno.serve binds the port devstack chose, and EdgeRuntime.waitUntil
// keeps background work alive after the response (here: until the process
// ends, with failures logged).
//
// Usage: deno run ... edge_runtime.ts <file URL of the function's index.ts>

const port = Number(Deno.env.get("DEVSTACK_FUNCTION_PORT"));
const serve = Deno.serve.bind(Deno);

type Handler = (
  request: Request,
  info: unknown,
) => Response | Promise<Response>;

// deno-lint-ignore no-explicit-any
(Deno as any).serve = (...args: unknown[]) => {
  const handler =
    args.find((arg) => typeof arg === "function") as Handler | undefined ??
      (args[0] as { handler?: Handler } | undefined)?.handler;
  if (!handler) throw new TypeError("Deno.serve needs a handler");
  return serve({ port, hostname: "127.0.0.1", onListen() {} }, handler);
};

// deno-lint-ignore no-explicit-any
(globalThis as any).EdgeRuntime = {
  waitUntil(promise: Promise<unknown>) {
    promise.catch((error) => console.error("waitUntil task failed:", error));
  },
};

await import(Deno.args[0]);
