// Loads one built edge function the way its index.ts does and times
// instantiating the module (compile + instantiate) over a number of runs.
// Used by `scripts/bench wasm`, which prints the start of the markdown row;
// this prints its end: " median | min | max |" in ms. Asserts nothing.
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
const ms = (t: number) => t.toFixed(2);
console.log(
  ` ${ms(median)} | ${ms(times[0])} | ${ms(times[times.length - 1])} |`,
);
