// suno-status-check: the Rust handler (functions/suno-status-check), built by scripts/build.
import { handler, initSync } from "./pkg/suno_status_check.js";

initSync({
  module: await Deno.readFile(
    new URL("./pkg/suno_status_check_bg.wasm", import.meta.url),
  ),
});
Deno.serve(handler);
