// Loads one built edge function the way its index.ts does and prints how long
// instantiating the module takes (compile + instantiate, median of the runs).
// Used by `scripts/bench wasm`; prints figures, asserts nothing.
//
//   deno run --allow-read tools/bench-wasm.ts <pkg folder> <crate> [runs]
const [dir, crate, runsArg] = Deno.args;
const runs = Number(runsArg ?? 20);
const bytes = await Deno.readFile(`${dir}/${crate}_bg.wasm`);
const times: number[] = [];
for (let i = 0; i < runs; i++) {
  // A fresh copy of the glue each time: initSync instantiates only once per import.
  const glue = await import(`file://${dir}/${crate}.js?run=${i}`);
  const started = performance.now();
  glue.initSync({ module: bytes });
  times.push(performance.now() - started);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(
  `${crate}: instantiate median ${median.toFixed(2)} ms, min ${
    times[0].toFixed(2)
  } ms, max ${times[times.length - 1].toFixed(2)} ms over ${runs} runs`,
);
