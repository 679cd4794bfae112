// emotion-music-ai: the Rust handler (functions/emotion-music-ai), built by scripts/build.
import { handler, initSync } from "./pkg/emotion_music_ai.js";

initSync({
  module: await Deno.readFile(
    new URL("./pkg/emotion_music_ai_bg.wasm", import.meta.url),
  ),
});
Deno.serve(handler);
