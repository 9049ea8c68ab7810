// The demo: a 2,500-member team in the fake Dropbox, synced through the
// component under jco. Prints, one JSON line per page, what a hub would
// forward to Oomnitza (its bulk API's `records`), and a summary on stderr.
//
//   ./run demo [--members N] [--page-size N] [--role ID]

import { parseArgs } from "node:util";
import { startFakes } from "./lib/fakes.mjs";
import { loadTranspiled } from "./lib/host.mjs";
import { effectiveSpec, syncTeam } from "./lib/sync.mjs";

const { values: opts } = parseArgs({
  options: {
    members: { type: "string", default: "2500" },
    "page-size": { type: "string", default: "1000" },
    role: { type: "string", default: "25" },
  },
});

const fakes = await startFakes({ members: Number(opts.members) });
let instance;
try {
  const component = await loadTranspiled(new URL("./build/connector/", import.meta.url).pathname);
  const refusals = [];
  instance = await component.instantiate({
    // The component always calls Dropbox's real origin; the hub decides
    // where that is served (here: the fake) and adds the token.
    routes: { "https://api.dropboxapi.com": fakes.dropbox },
    credential: { origin: "https://api.dropboxapi.com", token: () => fakes.dropboxToken },
    log: (e) => refusals.push(e),
  });
  const { connector, http, calls } = instance;
  const manifest = connector.describe();
  const spec = effectiveSpec(manifest, Number(opts.role));
  console.error(`${manifest.displayName} ${manifest.version}: ${manifest.fields.length} fields; ` +
    `hosts ${manifest.hosts.map((h) => `${h.origin} (${h.credential})`).join(", ")}`);
  const started = performance.now();
  const totals = await syncTeam(connector, {
    spec,
    pageSize: Number(opts["page-size"]),
    onPage: ({ records, failed }) => {
      // What a hub forwards: JSON, with integers already numbers.
      process.stdout.write(JSON.stringify({ data_type: "users", sync_field: spec.syncKey, records, failed }) + "\n");
    },
  });
  const ms = performance.now() - started;
  console.error(`pages ${totals.pages}, mapped ${totals.mapped}, failed ${totals.failed}, ` +
    `filtered ${totals.filtered}, retries ${totals.retries}; requests sent ${http.sent}, ` +
    `refused ${http.refused}; ${(ms / 1000).toFixed(2)} s`);
  console.error(`imports called: ${[...calls].map(([k, n]) => `${k} ×${n}`).join(", ")}`);
  for (const r of refusals) console.error(`refused: ${JSON.stringify(r)}`);
} finally {
  instance?.close(); // its HTTP worker
  await fakes.stop();
}
