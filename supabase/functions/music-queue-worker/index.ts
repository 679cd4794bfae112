// music-queue-worker: the Rust handler (functions/music-queue-worker), built by scripts/build.
import { handler, initSync } from "./pkg/music_queue_worker.js";

initSync({
  module: await Deno.readFile(
    new URL("./pkg/music_queue_worker_bg.wasm", import.meta.url),
  ),
});
Deno.serve(handler);
