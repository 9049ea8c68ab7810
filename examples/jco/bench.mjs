// fetch-mapped per page under jco: the same call host/benches/component.rs
// times under oomnitza-connect's runtime (first page of a 1,000-member team,
// 1,000 per page, removed members included, the connector's smart mapping,
// no read-ahead), median of RUNS calls after WARMUP, one instance. Its
// HTTP is lib/wasi-http.mjs's: one round trip to the HTTP worker per page.
//
//   node bench.mjs [--ours "5.641 ms"] [--runs N]
//
// Prints one row for bench/run's table; with --ours (our host's figure from
// the same run), the ratio jco ÷ ours against the 1.5× target.

import { parseArgs } from "node:util";
import { startFakes } from "./lib/fakes.mjs";
import { call, loadTranspiled } from "./lib/host.mjs";

const { values: opts } = parseArgs({
  options: { ours: { type: "string" }, runs: { type: "string", default: "100" } },
});
const RUNS = Number(opts.runs);
const WARMUP = 10;
const MEMBERS = 1000;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// --pregenerate removed (the default): the page is rendered before serving,
// as the in-process fake of the Rust bench serves it from memory.
const fakes = await startFakes({ members: MEMBERS, seed: 3, args: ["--pregenerate", "removed"] });
let instance;
try {
  const component = await loadTranspiled(new URL("./build/connector/", import.meta.url).pathname);
  instance = await component.instantiate({
    routes: { "https://api.dropboxapi.com": fakes.dropbox },
    credential: { origin: "https://api.dropboxapi.com", token: () => fakes.dropboxToken },
  });
  const { connector } = instance;
  const spec = connector.describe().defaultMapping;
  const request = {
    kind: "users",
    pageSize: 1000,
    options: [["include_removed", { tag: "boolean", val: true }]],
    syncTime: "2026-11-27T00:00:00Z",
    readAhead: false,
  };
  const once = () => {
    const t = performance.now();
    const r = call(connector.fetchMapped, request, spec);
    const ms = performance.now() - t;
    if (r.err) throw new Error(`fetch-mapped: ${JSON.stringify(r.err)}`);
    if (r.ok.outcomes.length !== MEMBERS) throw new Error(`${r.ok.outcomes.length} outcomes`);
    return ms;
  };
  for (let i = 0; i < WARMUP; i++) once();
  const xs = [];
  for (let i = 0; i < RUNS; i++) xs.push(once());
  const jco = median(xs);
  let result = `Node ${process.version}, jco 1.35.0, lib/wasi-http.mjs; median of ${RUNS}`;
  const ours = opts.ours && Number.parseFloat(opts.ours) * (opts.ours.includes("µs") ? 0.001 : 1);
  if (ours) {
    const ratio = jco / ours;
    result += `; ours ${ours.toFixed(3)} ms: **${ratio.toFixed(2)}×** (target ≤ 1.5×: ${ratio <= 1.5 ? "met" : "not met"})`;
  }
  console.log(`| component under jco (Node): \`fetch-mapped\` (HTTP, parse, map, lift) | 1,000 | 1 | ${jco.toFixed(3)} ms | – | – | – | – | – | ${result} |`);
} finally {
  instance?.close();
  await fakes.stop();
}
