// A hub's sync loop over the connector: `fetch-mapped` page by page, with
// the contract's retry rules, records shaped the way oomnitza-connect
// shapes them for Oomnitza's bulk API.

import { call, jsonToValue, valueToJson } from "./host.mjs";

/** The connector's smart mapping, without the role it proposes, plus the
 *  role the operator chose: a connector never chooses who becomes what. */
export function effectiveSpec(manifest, role) {
  const rules = manifest.defaultMapping.rules.filter((r) => r.target !== "PERMISSIONS_ID");
  if (role !== undefined) {
    rules.push({
      target: "PERMISSIONS_ID",
      source: { tag: "constant", val: jsonToValue(role) },
      transforms: [],
      required: false,
    });
  }
  return { ...manifest.defaultMapping, rules };
}

/** One mapped record as the JSON object a hub forwards for Oomnitza's
 *  "users" data type: rule targets as keys, in rule order (values are
 *  positional: one per rule). `saas.*` targets belong to the "User plus
 *  SaaS user" records and are left out here, as oomnitza-connect does in
 *  its "user-only" mode. */
export function shapeRecord(spec, mapped) {
  const out = {};
  spec.rules.forEach((rule, i) => {
    if (!rule.target.startsWith("saas.")) out[rule.target] = valueToJson(mapped.values[i]);
  });
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Fetches every page. `onPage({records, failed, filtered, page})` gets each
 * page's shaped records. Retries `rate-limited` (waiting what Dropbox asked,
 * at most 5 minutes) and `unavailable` (backing off), with the same cursor:
 * a page is only ever read, so asking for it again is safe. On
 * `cursor-expired` (contract 0.4.0) the listing starts over from the first
 * page, at most `maxRestarts` times: `onRestart()` is called first, so
 * whoever collects pages drops what this listing gave so far. Every other
 * error ends the sync.
 */
export async function syncTeam(
  connector,
  {
    spec,
    pageSize = 1000,
    includeRemoved = true,
    maxRetries = 5,
    maxRestarts = 3,
    readAhead = true,
    onPage = () => {},
    onRestart = () => {},
  },
) {
  let cursor;
  let page = 0;
  const totals = { pages: 0, mapped: 0, failed: 0, filtered: 0, retries: 0, restarts: 0 };
  for (;;) {
    const request = {
      kind: "users",
      cursor,
      pageSize,
      options: [["include_removed", { tag: "boolean", val: includeRemoved }]],
      syncTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      // Worth it only while this instance will be asked for the next page.
      readAhead,
    };
    let result;
    for (let attempt = 0; ; attempt++) {
      result = call(connector.fetchMapped, request, spec);
      const e = result.err;
      if (!e || attempt >= maxRetries) break;
      if (e.tag === "rate-limited") {
        await sleep(Math.min(e.val.retryAfterSeconds, 300) * 1000);
      } else if (e.tag === "unavailable") {
        await sleep(Math.min(2 ** attempt * 250, 30_000) * (0.5 + Math.random()));
      } else {
        break;
      }
      totals.retries += 1;
    }
    if (result.err?.tag === "cursor-expired" && cursor !== undefined && totals.restarts < maxRestarts) {
      totals.restarts += 1;
      await onRestart();
      cursor = undefined;
      page = 0;
      continue;
    }
    if (result.err) {
      const err = new Error(`fetch-mapped failed: ${result.err.tag}: ${JSON.stringify(result.err.val)}`);
      err.connectorError = result.err;
      throw err;
    }
    const records = [];
    const failed = [];
    let filtered = 0;
    for (const o of result.ok.outcomes) {
      if (o.tag === "mapped") records.push(shapeRecord(spec, o.val));
      else if (o.tag === "filtered") filtered += 1;
      else failed.push({ sourceId: o.val.sourceId, error: o.val.reason });
    }
    page += 1;
    totals.pages += 1;
    totals.mapped += records.length;
    totals.failed += failed.length;
    totals.filtered += filtered;
    await onPage({ page, records, failed, filtered });
    if (!result.ok.hasMore) return totals;
    cursor = result.ok.cursor;
  }
}
