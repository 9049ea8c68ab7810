// The jco example's tests (`./run test`, which `.ci/run` runs): the same
// team through the component under jco and under oomnitza-connect gives
// the same records; the guarded handler refuses foreign origins, strips
// credential headers the component sets, and never lets it see the token
// or the hub's environment.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import { OOMNITZA_CONNECT_BIN, startFakes } from "../lib/fakes.mjs";
import { call, loadTranspiled, originOf, valueToJson } from "../lib/host.mjs";
import { effectiveSpec, syncTeam } from "../lib/sync.mjs";

const run = promisify(execFile);
const build = (name) => new URL(`../build/${name}/`, import.meta.url).pathname;
const DROPBOX = "https://api.dropboxapi.com";
const MEMBERS = 2500;
const ROLE = 25;

let fakes;
let connector;
let attacker;
/** Every instance made, closed at the end (each has an HTTP worker). */
const instances = [];

before(async () => {
  fakes = await startFakes({ members: MEMBERS });
  connector = await loadTranspiled(build("connector"));
  attacker = await loadTranspiled(build("attacker"));
});
after(async () => {
  for (const i of instances) i.close();
  await fakes?.stop();
});

/** An instance whose only route is Dropbox's origin, served by the fake. */
function instance(component, extra = {}) {
  const refusals = [];
  return component
    .instantiate({
      routes: { [DROPBOX]: fakes.dropbox },
      credential: { origin: DROPBOX, token: () => fakes.dropboxToken },
      log: (e) => refusals.push(e),
      ...extra,
    })
    .then((i) => {
      instances.push(i);
      return { ...i, refusals };
    });
}

const byUser = (a, b) => (a.USER < b.USER ? -1 : a.USER > b.USER ? 1 : 0);

/** Equal lists of records; on a difference, names the first one only. */
function sameRecords(actual, expected) {
  assert.equal(actual.length, expected.length, "record counts differ");
  actual.forEach((r, i) => assert.deepEqual(r, expected[i], `record ${i} differs`));
}

async function jcoRecords(pageSize) {
  const { connector: c, calls, http } = await instance(connector);
  const spec = effectiveSpec(c.describe(), ROLE);
  const records = [];
  const totals = await syncTeam(c, {
    spec,
    pageSize,
    onPage: (p) => records.push(...p.records),
    onRestart: () => void (records.length = 0),
  });
  return { records: records.sort(byUser), totals, calls, http };
}

/** `oomnitza-connect sync --dry-run` against the same fake: the bulk
 *  payloads it would post, one JSON line each. */
async function hostRecords(pageSize) {
  const dir = await mkdtemp(join(tmpdir(), "jco-example-"));
  try {
    const config = join(dir, "oomnitza-connect.toml");
    await writeFile(
      config,
      `[integration]
name = "Dropbox Users"
mode = "user-only"
[component]
path = ${JSON.stringify(process.env.CONNECTOR_WASM)}
cache_dir = ""
[source]
url = "${fakes.dropbox}"
token = { env = "JCO_TEST_DROPBOX_TOKEN" }
page_size = ${pageSize}
include_removed = true
[oomnitza]
url = "${fakes.oomnitza}"
token = { env = "JCO_TEST_OOMNITZA_TOKEN" }
role = ${ROLE}
[sandbox]
allow = ["${DROPBOX}"]
allow_loopback = true
[state]
path = ${JSON.stringify(join(dir, "state.db"))}
`,
    );
    const { stdout } = await run(OOMNITZA_CONNECT_BIN, ["-q", "-c", config, "sync", "--dry-run"], {
      env: {
        ...process.env,
        JCO_TEST_DROPBOX_TOKEN: fakes.dropboxToken,
        JCO_TEST_OOMNITZA_TOKEN: fakes.oomnitzaToken,
      },
      maxBuffer: 256 * 1024 * 1024,
    });
    const records = stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .flatMap((l) => JSON.parse(l).records);
    return records.sort(byUser);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("the same team through jco and through oomnitza-connect", () => {
  test("gives the same mapped records (page size 1000)", async () => {
    const [jco, host] = await Promise.all([jcoRecords(1000), hostRecords(1000)]);
    assert.equal(host.length, MEMBERS);
    assert.equal(jco.records.length, MEMBERS);
    assert.equal(jco.totals.failed, 0);
    sameRecords(jco.records, host);
    // Forwardable as JSON: the role, an s64, arrives as 25n and is a number here.
    assert.equal(jco.records[0].PERMISSIONS_ID, ROLE);
    assert.doesNotThrow(() => JSON.stringify(jco.records));
    // The only import a sync calls, as a function, is the outgoing handler
    // (streams, pollables and fields are resources, not counted here).
    assert.deepEqual([...jco.calls.keys()], ["wasi:http/outgoing-handler#handle"]);
    assert.equal(jco.http.refused, 0);
  });

  test("gives the same records at page size 7", async () => {
    const small = await jcoRecords(7);
    const host = await hostRecords(1000);
    assert.equal(small.totals.pages, Math.ceil(MEMBERS / 7));
    sameRecords(small.records, host);
  });
});

describe("the guarded outgoing handler", () => {
  test("refuses an origin it does not route, and the connector says `denied`", async () => {
    const { connector: c, http, refusals } = await instance(attacker);
    const r = call(c.fetch, {
      kind: "users",
      pageSize: 1,
      options: [["attack", { tag: "text", val: "request-other-host" }]],
      syncTime: "2026-11-29T00:00:00Z",
      readAhead: false,
    });
    assert.equal(r.err?.tag, "denied", JSON.stringify(r));
    assert.equal(http.refused, 1);
    assert.equal(http.sent, 0);
    assert.deepEqual(refusals, [
      { event: "refused", reason: "origin not routed", origin: "https://evil.example.com", path: "/steal" },
    ]);
  });

  test("refuses Dropbox's origin when the operator did not route it", async () => {
    const { connector: c, http } = await instance(connector, { routes: {}, credential: undefined });
    const r = call(c.fetchMapped, {
      kind: "users",
      pageSize: 10,
      options: [],
      syncTime: "2026-11-29T00:00:00Z",
      readAhead: false,
    }, effectiveSpec(c.describe(), ROLE));
    assert.equal(r.err?.tag, "denied");
    assert.equal(http.sent, 0);
  });

  test("drops credential headers the component sets; the real token goes instead", async () => {
    const { connector: c, http } = await instance(attacker);
    const r = call(c.fetch, {
      kind: "users",
      pageSize: 1,
      options: [
        ["attack", { tag: "text", val: "authorization-override" }],
        ["target", { tag: "text", val: `${DROPBOX}/2/team/members/list_v2` }],
      ],
      syncTime: "2026-11-29T00:00:00Z",
      readAhead: false,
    });
    assert.ok(r.ok, JSON.stringify(r));
    const note = valueToJson(r.ok.records[0].values[1]);
    // The fake Dropbox checks the token before anything else: "Bearer
    // stolen" would have been a 401. The attacker sets no Content-Type, so
    // the real token's answer is a 400 that names it.
    assert.match(note, /send: 400 .*Content-Type/, note);
    assert.ok(http.strippedHeaders >= 1);
    assert.ok(!note.includes(fakes.dropboxToken));
  });

  test("a request flood stops at the call's budget and the in-flight cap", async () => {
    const { connector: c, http, refusals, close } = await instance(attacker);
    try {
      const r = call(c.fetch, {
        kind: "users",
        pageSize: 1,
        options: [["attack", { tag: "text", val: "request-flood" }]],
        syncTime: "2026-11-29T00:00:00Z",
        readAhead: false,
      });
      // The flood starts 64 at once: the 9th is refused while 8 are in flight.
      assert.equal(r.err?.tag, "denied", JSON.stringify(r));
      assert.equal(http.sent, 8);
      assert.deepEqual(refusals.map((e) => e.reason), ["more than 8 requests in flight"]);
    } finally {
      close();
    }
    // With room for all 64 in flight, the call's budget is what stops it:
    // the 21st request is refused.
    const budget = await instance(attacker, { limits: { maxRequestsPerCall: 20, maxConcurrentRequests: 100 } });
    try {
      const r = call(budget.connector.fetch, {
        kind: "users",
        pageSize: 1,
        options: [["attack", { tag: "text", val: "request-flood" }]],
        syncTime: "2026-11-29T00:00:00Z",
        readAhead: false,
      });
      assert.equal(r.err?.tag, "denied", JSON.stringify(r));
      assert.equal(budget.http.sent, 20);
      assert.deepEqual(budget.refusals.map((e) => e.reason), ["more than 20 requests in one call"]);
      // A new call has a new budget.
      call(budget.connector.fetch, {
        kind: "users",
        pageSize: 1,
        options: [["attack", { tag: "text", val: "request-flood" }]],
        syncTime: "2026-11-29T00:00:00Z",
        readAhead: false,
      });
      assert.equal(budget.http.sent, 40);
    } finally {
      budget.close();
    }
  });

  test("the component sees no environment, no arguments and no token", async () => {
    process.env.JCO_EXAMPLE_CANARY = "hub-secret";
    const { connector: c } = await instance(attacker);
    const r = call(c.fetch, {
      kind: "users",
      pageSize: 1,
      options: [["attack", { tag: "text", val: "echo" }]],
      syncTime: "2026-11-29T00:00:00Z",
      readAhead: false,
    });
    assert.ok(r.ok, JSON.stringify(r));
    const seen = JSON.stringify(r.ok.records.map((rec) => rec.values.map(valueToJson)));
    assert.match(seen, /0 variables/);
    assert.ok(!seen.includes("hub-secret"));
    assert.ok(!seen.toLowerCase().includes("authorization"), seen);
    assert.ok(!seen.includes(fakes.dropboxToken));
    assert.match(seen, /200/); // its request went out, with the token it cannot see
  });
});

describe("the contract in JavaScript", () => {
  test("integers are BigInt; valueToJson makes them JSON numbers", async () => {
    const { connector: c } = await instance(connector);
    const role = effectiveSpec(c.describe(), ROLE).rules.find((r) => r.target === "PERMISSIONS_ID");
    assert.equal(role.source.val.val, 25n);
    assert.throws(() => JSON.stringify(role.source.val));
    assert.equal(valueToJson(role.source.val), Number(role.source.val.val));
    assert.equal(valueToJson({ tag: "integer", val: 2n ** 60n }), "1152921504606846976");
  });

  test("an action runs through the same handler (get-user-role)", async () => {
    const { connector: c, http } = await instance(connector);
    const { records } = await jcoRecords(1000);
    const r = call(c.action, "get-user-role", [{ tag: "email", val: records[0].EMAIL }], []);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.ok.length, 1);
    assert.equal(r.ok[0].tag, "ok", JSON.stringify(r.ok[0]));
    assert.equal(http.refused, 0);
  });

  test("a wrong token is `unauthorized`, not retried", async () => {
    const { connector: c, http } = await instance(connector, {
      credential: { origin: DROPBOX, token: () => "sl.wrong" },
    });
    await assert.rejects(
      syncTeam(c, { spec: effectiveSpec(c.describe(), ROLE) }),
      (e) => e.connectorError?.tag === "unauthorized",
    );
    assert.equal(http.sent, 1);
  });

  test("rate-limited and unavailable are retried with the same cursor", async () => {
    const seen = [];
    const answers = [
      { payload: { tag: "rate-limited", val: { retryAfterSeconds: 0, message: "slow down" } } },
      { ok: { outcomes: [], cursor: "c1", hasMore: true } },
      { payload: { tag: "unavailable", val: "503" } },
      { ok: { outcomes: [], cursor: undefined, hasMore: false } },
    ];
    const fake = {
      fetchMapped(request) {
        seen.push(request.cursor ?? null);
        const a = answers.shift();
        if (a.payload) throw Object.assign(new Error("err"), { payload: a.payload });
        return a.ok;
      },
    };
    const totals = await syncTeam(fake, { spec: { rules: [], filters: [], syncKey: [] } });
    assert.deepEqual(seen, [null, null, "c1", "c1"]);
    assert.equal(totals.retries, 2);
    assert.equal(totals.pages, 2);
  });

  test("cursor-expired starts the listing over; the collector drops the partial one", async () => {
    const seen = [];
    const rec = (id) => ({ tag: "mapped", val: { sourceId: id, values: [] } });
    const answers = [
      { ok: { outcomes: [rec("a")], cursor: "c1", hasMore: true } },
      { payload: { tag: "cursor-expired", val: "expired" } },
      { ok: { outcomes: [rec("a")], cursor: "c2", hasMore: true } },
      { ok: { outcomes: [rec("b")], cursor: undefined, hasMore: false } },
    ];
    const fake = {
      fetchMapped(request) {
        seen.push(request.cursor ?? null);
        const a = answers.shift();
        if (a.payload) throw Object.assign(new Error("err"), { payload: a.payload });
        return a.ok;
      },
    };
    const pages = [];
    const totals = await syncTeam(fake, {
      spec: { rules: [], filters: [], syncKey: [] },
      onPage: (p) => pages.push(p.page),
      onRestart: () => void (pages.length = 0),
    });
    assert.deepEqual(seen, [null, "c1", null, "c2"]);
    assert.deepEqual(pages, [1, 2]);
    assert.equal(totals.restarts, 1);
    // On the first page there is nothing to restart: it is an error.
    const first = { fetchMapped: () => { throw Object.assign(new Error("err"), { payload: { tag: "cursor-expired", val: "x" } }); } };
    await assert.rejects(
      syncTeam(first, { spec: { rules: [], filters: [], syncKey: [] } }),
      (e) => e.connectorError?.tag === "cursor-expired",
    );
  });

  test("originOf normalises as the manifest writes origins", () => {
    assert.equal(originOf({ tag: "HTTPS" }, "API.dropboxapi.com:443"), DROPBOX);
    assert.equal(originOf({ tag: "HTTP" }, "127.0.0.1:80"), "http://127.0.0.1");
    assert.equal(originOf({ tag: "HTTPS" }, undefined), undefined);
  });
});

describe("docs/embedding.md", () => {
  test("gives the sha256 of the component this tree builds", async () => {
    const doc = await readFile(new URL("../../../docs/embedding.md", import.meta.url), "utf8");
    const listed = doc.match(/^sha256: ([0-9a-f]{64})$/m)?.[1];
    const built = createHash("sha256").update(await readFile(process.env.CONNECTOR_WASM)).digest("hex");
    assert.equal(
      listed,
      built,
      `docs/embedding.md lists sha256 ${listed}, but ${process.env.CONNECTOR_WASM} is ${built}: ` +
        "update the `sha256:` line (and the versions beside it) to match the release build",
    );
  });
});
