// A minimal, safe embedding of the Dropbox connector component in Node,
// with jco (`jco transpile --instantiation async`). `wasi:http`, `wasi:io`
// and `wasi:clocks` come from lib/wasi-http.mjs (one round trip to an HTTP
// worker thread per response, where preview2-shim makes dozens per page);
// `wasi:random` from `@bytecodealliance/preview2-shim`.
//
// What it shows (docs/embedding.md explains each duty):
//
// - every import the component has is granted here, explicitly: an empty
//   environment and no arguments (jco's default shim would hand the
//   component the whole `process.env` of the hub), no stdin/stdout/stderr,
//   no `exit` that could stop the hub's process;
// - `wasi:http/outgoing-handler` routes the manifest's origin to where it is
//   served, adds `Authorization: Bearer …` where the component can neither
//   set nor read it, and refuses every other origin (`HTTP-request-denied`,
//   which the connector reports as its `denied` error);
// - each instance has its own HTTP worker; `close()` ends it (it is
//   `unref`'d, so a forgotten instance never keeps Node running);
// - values the contract types as `s64` arrive as BigInt: `valueToJson`
//   turns them into JSON numbers.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as random from "@bytecodealliance/preview2-shim/random";
import { VALID, createWasiHttp } from "./wasi-http.mjs";

/** Header names the component may not send: the host owns them. */
export const FORBIDDEN_HEADERS = new Set([
  "authorization",
  "authorization2",
  "cookie",
  "proxy-authorization",
  "x-csrf-token",
  "host",
  "connection",
  "keep-alive",
]);

/** Default bounds for every request (nanoseconds, as WASI wants them). */
const SECOND_NS = 1_000_000_000n;
export const DEFAULT_TIMEOUTS = {
  connect: 10n * SECOND_NS,
  firstByte: 60n * SECOND_NS,
  betweenBytes: 30n * SECOND_NS,
};

/** Bounds, as oomnitza-connect's defaults: body sizes (bytes), requests
 *  in one export call (refused ones included) and requests in flight. */
export const DEFAULT_LIMITS = {
  maxResponseBody: 64 * 1024 * 1024,
  maxRequestBody: 1024 * 1024,
  maxRequestsPerCall: 100,
  maxConcurrentRequests: 8,
};

/**
 * `scheme://host[:port]` of a request, lower-cased, default port dropped:
 * the form the manifest's `hosts[].origin` uses. `undefined` when the
 * request has no authority (the guarded handler refuses it).
 */
export function originOf(scheme, authority) {
  if (!authority) return undefined;
  const s =
    scheme === undefined || scheme.tag === "HTTPS"
      ? "https"
      : scheme.tag === "HTTP"
        ? "http"
        : String(scheme.val).toLowerCase();
  let a = authority.toLowerCase();
  if ((s === "https" && a.endsWith(":443")) || (s === "http" && a.endsWith(":80"))) {
    a = a.slice(0, a.lastIndexOf(":"));
  }
  return `${s}://${a}`;
}

/** Parses an upstream such as `http://127.0.0.1:4011` (no path allowed). */
function parseUpstream(url) {
  const u = new URL(url);
  if (u.pathname !== "/" || u.search || u.hash || u.username || u.password) {
    throw new Error(`route target ${url}: give scheme://host[:port] only`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") {
    throw new Error(`route target ${url}: http or https only`);
  }
  return { scheme: { tag: u.protocol === "https:" ? "HTTPS" : "HTTP" }, authority: u.host };
}

/**
 * Builds the `wasi:http` pair for one connector: `types` with a guarded
 * `OutgoingRequest`, and an `outgoing-handler` that enforces the policy.
 *
 * @param {object} policy
 * @param {Record<string,string>} policy.routes  origin → where it is served
 *   (`{"https://api.dropboxapi.com": "http://127.0.0.1:4011"}`); only these
 *   origins are ever contacted.
 * @param {{origin: string, token: () => string} | undefined} policy.credential
 *   the one origin the bearer token is bound to, and a function returning it
 *   (called per request, so a refreshed token is picked up).
 * @param {(event: object) => void} [policy.log]  receives every refusal.
 * @param {object} [policy.timeouts]  caps on the component's timeouts (ns).
 * @param {object} [policy.limits]  body bounds, for lib/wasi-http.mjs.
 * @returns the imports' parts (`types`, `outgoingHandler`, and in `wasi`
 *   the `wasi:io` / `wasi:clocks` that go with them), `stats`, `close()`.
 */
export function guardedHttp({
  routes,
  credential,
  log = () => {},
  timeouts = DEFAULT_TIMEOUTS,
  limits = DEFAULT_LIMITS,
}) {
  const upstreams = new Map();
  for (const [origin, target] of Object.entries(routes)) {
    upstreams.set(origin.toLowerCase(), parseUpstream(target));
  }
  if (credential && !upstreams.has(credential.origin.toLowerCase())) {
    throw new Error(`the credential's origin ${credential.origin} has no route`);
  }
  limits = { ...DEFAULT_LIMITS, ...limits };
  const stats = { sent: 0, refused: 0, strippedHeaders: 0 };
  const wasi = createWasiHttp(limits);
  // Requests of the export call under way (`newCall()` starts one): a
  // component in a loop must not flood the vendor under the hub's token.
  let callRequests = 0;
  const http = { types: wasi.types, outgoingHandler: wasi.outgoingHandler };

  // The component builds requests with this class (it is the
  // `outgoing-request` resource it sees). It keeps what the component set;
  // the inner request (lib/wasi-http.mjs's), the one that goes on the wire
  // and carries the token, is created only once the origin is known and
  // never handed to the component, so it can neither read the token back
  // nor change where it goes.
  class OutgoingRequest {
    #headers;
    #method = { tag: "get" };
    #scheme = undefined;
    #authority = undefined;
    #path = undefined;
    #inner = null; // the inner request, once the body is asked for
    #innerOrigin = undefined; // the origin the inner request was built for
    #bodyTaken = false;

    constructor(headers) {
      // The component's own fields: what it reads back with `headers()`.
      this.#headers = headers;
    }
    headers() {
      // An immutable copy, as WASI has it: nothing reaches the wire through it.
      return wasi.immutableCopy(this.#headers);
    }
    method() {
      return this.#method;
    }
    setMethod(method) {
      if (!VALID.method(method)) throw undefined;
      this.#method = method;
    }
    scheme() {
      return this.#scheme;
    }
    setScheme(scheme) {
      if (!VALID.scheme(scheme)) throw undefined;
      this.#scheme = scheme;
    }
    authority() {
      return this.#authority;
    }
    setAuthority(authority) {
      if (!VALID.authority(authority)) throw undefined;
      this.#authority = authority;
    }
    pathWithQuery() {
      return this.#path;
    }
    setPathWithQuery(path) {
      if (!VALID.pathWithQuery(path)) throw undefined;
      this.#path = path;
    }
    body() {
      if (this.#bodyTaken) throw undefined;
      this.#bodyTaken = true;
      return this.#materialize().body();
    }

    /** The request that is sent: the component's headers, minus the
     *  forbidden ones, plus the credential when (and only when) the origin
     *  set so far is the one it is bound to. */
    #materialize() {
      if (this.#inner) return this.#inner;
      const origin = originOf(this.#scheme, this.#authority);
      const entries = [];
      for (const [name, value] of this.#headers.entries()) {
        if (FORBIDDEN_HEADERS.has(name.toLowerCase())) {
          stats.strippedHeaders += 1;
          log({ event: "header-stripped", header: name.toLowerCase(), origin });
          continue;
        }
        entries.push([name, value]);
      }
      if (credential && origin === credential.origin.toLowerCase()) {
        entries.push(["authorization", new TextEncoder().encode(`Bearer ${credential.token()}`)]);
      }
      this.#inner = new http.types.OutgoingRequest(http.types.Fields.fromList(entries));
      this.#innerOrigin = origin;
      return this.#inner;
    }

    /** `outgoing-handler.handle`: the only way out. */
    static send(request, options) {
      if (!(request instanceof OutgoingRequest)) throw { tag: "HTTP-request-denied" };
      const origin = originOf(request.#scheme, request.#authority);
      const deny = (reason) => {
        stats.refused += 1;
        // The path without its query: a query may carry data.
        log({ event: "refused", reason, origin, path: request.#path?.split("?")[0] });
        throw { tag: "HTTP-request-denied" };
      };
      callRequests += 1;
      if (callRequests > limits.maxRequestsPerCall) {
        deny(`more than ${limits.maxRequestsPerCall} requests in one call`);
      }
      if (wasi.inFlight() >= limits.maxConcurrentRequests) {
        deny(`more than ${limits.maxConcurrentRequests} requests in flight`);
      }
      const upstream = origin && upstreams.get(origin);
      if (!upstream) deny("origin not routed");
      if (!request.#path) throw { tag: "HTTP-request-URI-invalid" };
      const inner = request.#materialize();
      // Built for one origin, then pointed at another: the credential
      // decision was made for the first, so refuse.
      if (request.#innerOrigin !== origin) deny("origin changed after the body was taken");
      inner.setMethod(request.#method);
      inner.setScheme(upstream.scheme);
      inner.setAuthority(upstream.authority);
      inner.setPathWithQuery(request.#path);
      stats.sent += 1;
      return http.outgoingHandler.handle(inner, bounded(http.types.RequestOptions, options, timeouts));
    }
  }

  const types = { ...http.types, OutgoingRequest };
  const outgoingHandler = { handle: (request, options) => OutgoingRequest.send(request, options) };
  return {
    types,
    outgoingHandler,
    wasi: { io: wasi.io, clocks: wasi.clocks },
    stats,
    newCall: () => void (callRequests = 0),
    close: wasi.close,
  };
}

/** The component's timeouts, capped by the host's. */
function bounded(RequestOptions, options, timeouts) {
  const out = new RequestOptions();
  const min = (a, b) => (a !== undefined && a < b ? a : b);
  out.setConnectTimeout(min(options?.connectTimeout(), timeouts.connect));
  out.setFirstByteTimeout(min(options?.firstByteTimeout(), timeouts.firstByte));
  out.setBetweenBytesTimeout(min(options?.betweenBytesTimeout(), timeouts.betweenBytes));
  return out;
}

/** An import the component has but must never use: calling it ends the call. */
function refused(name) {
  return () => {
    throw new Error(`the component called ${name}, which this host does not grant`);
  };
}

/**
 * Every import of the component, granted explicitly. `calls` counts the
 * calls to each function (resource methods are not counted).
 */
export function grants(httpPair) {
  const { io, clocks } = httpPair.wasi;
  const calls = new Map();
  const counted = (iface, obj) => {
    const out = {};
    for (const [k, v] of Object.entries(obj)) {
      // Functions are counted; classes (resources) pass as they are, since
      // the bindings check `instanceof` against them.
      const isClass = typeof v === "function" && /^class\b/.test(Function.prototype.toString.call(v));
      out[k] =
        typeof v === "function" && !isClass
          ? (...args) => {
              const key = `${iface}#${k}`;
              calls.set(key, (calls.get(key) ?? 0) + 1);
              return v(...args);
            }
          : v;
    }
    return out;
  };
  const imports = {
    // Rust's standard library imports these; the connector never reads
    // them. An empty environment, no arguments, no working directory.
    "wasi:cli/environment": counted("wasi:cli/environment", {
      getEnvironment: () => [],
      getArguments: () => [],
      initialCwd: () => undefined,
    }),
    // The shim's `exit` would end the hub's whole process.
    "wasi:cli/exit": counted("wasi:cli/exit", {
      exit: refused("wasi:cli/exit#exit"),
      exitWithCode: refused("wasi:cli/exit#exit-with-code"),
    }),
    "wasi:cli/stdin": counted("wasi:cli/stdin", { getStdin: refused("wasi:cli/stdin#get-stdin") }),
    "wasi:cli/stdout": counted("wasi:cli/stdout", { getStdout: refused("wasi:cli/stdout#get-stdout") }),
    "wasi:cli/stderr": counted("wasi:cli/stderr", { getStderr: refused("wasi:cli/stderr#get-stderr") }),
    // Resource types only: no terminal is ever handed out (below).
    "wasi:cli/terminal-input": { TerminalInput: class TerminalInput {} },
    "wasi:cli/terminal-output": { TerminalOutput: class TerminalOutput {} },
    "wasi:cli/terminal-stdin": counted("wasi:cli/terminal-stdin", { getTerminalStdin: () => undefined }),
    "wasi:cli/terminal-stdout": counted("wasi:cli/terminal-stdout", { getTerminalStdout: () => undefined }),
    "wasi:cli/terminal-stderr": counted("wasi:cli/terminal-stderr", { getTerminalStderr: () => undefined }),
    // delete-user polls Dropbox's job status with a sleep between polls.
    "wasi:clocks/monotonic-clock": counted("wasi:clocks/monotonic-clock", clocks.monotonicClock),
    "wasi:clocks/wall-clock": counted("wasi:clocks/wall-clock", clocks.wallClock),
    "wasi:http/types": httpPair.types,
    "wasi:http/outgoing-handler": counted("wasi:http/outgoing-handler", httpPair.outgoingHandler),
    // Streams, pollables and errors are lib/wasi-http.mjs's: the HTTP
    // resources hand them out, so they must be the same classes.
    "wasi:io/error": io.error,
    "wasi:io/poll": counted("wasi:io/poll", io.poll),
    "wasi:io/streams": io.streams,
    "wasi:random/insecure-seed": counted("wasi:random/insecure-seed", random.insecureSeed),
    "wasi:random/random": counted("wasi:random/random", random.random),
  };
  return { imports, calls };
}

/**
 * Loads a component transpiled with
 * `jco transpile X.wasm -o DIR --name connector --instantiation async`.
 * Returns `instantiate()`, which makes a fresh instance (its own memory,
 * its own read-ahead slot, its own HTTP worker) with the given policy;
 * `close()` on the instance ends its worker.
 */
export async function loadTranspiled(dir) {
  const { instantiate } = await import(join(dir, "connector.js"));
  const modules = new Map();
  const getCoreModule = async (name) => {
    if (!modules.has(name)) {
      modules.set(name, await WebAssembly.compile(await readFile(join(dir, name))));
    }
    return modules.get(name);
  };
  return {
    async instantiate(policy) {
      const pair = guardedHttp(policy);
      const { imports, calls } = grants(pair);
      let exports;
      try {
        exports = await instantiate(getCoreModule, imports);
      } catch (e) {
        pair.close();
        throw e;
      }
      // Each export call starts a fresh request budget.
      const connector = {};
      for (const [name, f] of Object.entries(exports.connector)) {
        connector[name] =
          typeof f === "function"
            ? (...args) => {
                pair.newCall();
                return f(...args);
              }
            : f;
      }
      return { connector, http: pair.stats, calls, close: pair.close };
    },
  };
}

/** Calls an export; the contract's `result` comes back as {ok} / {err}. */
export function call(fn, ...args) {
  try {
    return { ok: fn(...args) };
  } catch (e) {
    if (e && Object.prototype.hasOwnProperty.call(e, "payload")) return { err: e.payload };
    throw e; // a trap, or an import refused: the instance is done
  }
}

/**
 * A contract `value` as JSON. `integer` is an `s64`, which jco hands over
 * as a BigInt (`PERMISSIONS_ID` is `25n`, and `JSON.stringify` throws on
 * it): a safe integer becomes a number, a larger one a decimal string.
 */
export function valueToJson(v) {
  switch (v.tag) {
    case "null":
      return null;
    case "integer":
      return Number.isSafeInteger(Number(v.val)) ? Number(v.val) : v.val.toString();
    default:
      // text, boolean, timestamp (RFC 3339 text), text-list
      return v.val;
  }
}

/** A JSON value as a contract `value` (integers as BigInt). */
export function jsonToValue(j) {
  if (j === null || j === undefined) return { tag: "null" };
  if (typeof j === "boolean") return { tag: "boolean", val: j };
  if (typeof j === "number" || typeof j === "bigint") return { tag: "integer", val: BigInt(j) };
  if (Array.isArray(j)) return { tag: "text-list", val: j.map(String) };
  return { tag: "text", val: String(j) };
}
