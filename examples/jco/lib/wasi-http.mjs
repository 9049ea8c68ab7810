// `wasi:http` (outgoing requests), `wasi:io` and `wasi:clocks` for a
// component transpiled by jco, built for one round trip per response.
//
// Why: preview2-shim runs every `wasi:http` / `wasi:io` stream call as a
// synchronous round trip to a worker thread, and a `blocking-read` returns
// only what Node has buffered (16-64 KB), so one 1 MB page costs dozens of
// round trips. Here one worker thread (lib/http-worker.mjs) performs the
// requests with node:http / node:https and keep-alive agents, buffers each
// whole response body, and posts it back once, transferring the buffer. The
// main thread blocks in `Atomics.wait` on a counter the worker bumps, takes
// the message with `receiveMessageOnPort`, and serves every body read from
// memory. A hub with its own async HTTP stack can do the same: the component
// waits synchronously, the hub answers once per response.
//
// What it implements, with wasi:http@0.2 semantics as jco's bindings expect
// them (a `result` error is thrown as its payload; a thrown JS `Error` is a
// trap): `fields`, `request-options`, `outgoing-request`, `outgoing-body`,
// `future-incoming-response`, `incoming-response`, `incoming-body`,
// `future-trailers`, `http-error-code`, `outgoing-handler.handle`;
// `wasi:io` `input-stream`, `output-stream`, `pollable`, `poll`, `error`;
// `wasi:clocks` `monotonic-clock` and `wall-clock`. Not implemented, and a
// trap if reached: the server side (`incoming-request`, `outgoing-response`,
// `response-outparam`). Request trailers are refused with an error code.
//
// Where it differs from a streaming host, by design:
// - The request is sent once its body is finished (the body is collected
//   here, up to `maxRequestBody`), not while it is written. Waiting on the
//   response of a request whose body is still open would wait forever, and
//   traps instead.
// - The response arrives whole (up to `maxResponseBody`; a larger one fails
//   with `HTTP-response-body-size`). A body cut short after the head (a
//   reset, a between-bytes timeout) is delivered as far as it came, and the
//   stream then fails with `last-operation-failed`, whose `http-error-code`
//   says why.
//
// Each `createWasiHttp()` has its own worker (started on the first request,
// `unref`'d so it never keeps Node alive); `close()` ends it.

import { hrtime } from "node:process";
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";

const symbolDispose = Symbol.dispose || Symbol.for("dispose");

const MiB = 1024 * 1024;
/** What `check-write` permits per write. */
const WRITE_BUDGET = MiB;
/** wasi:io: `blocking-write-and-flush` takes at most this much. */
const BLOCKING_WRITE_MAX = 4096;
/** wasmtime's default for each timeout, used when none is given (ns). */
const DEFAULT_TIMEOUT_NS = 600_000_000_000n;

/** Header names the HTTP stack owns: refused in every `fields` (`forbidden`). */
export const HOP_BY_HOP_HEADERS = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "host",
  "http2-settings",
  "te",
]);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The syntax of an outgoing request's parts, as its setters check it
 *  (`undefined` is "not set", always valid). Shared with lib/host.mjs's
 *  guarded request, so both refuse the same values. */
export const VALID = {
  method: (m) => m.tag !== "other" || TOKEN.test(m.val),
  scheme: (s) => s?.tag !== "other" || /^[A-Za-z][A-Za-z0-9+.-]*$/.test(s.val),
  authority: (a) => {
    if (a === undefined) return true;
    const m = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?$/.exec(a);
    return m !== null && (m[1] === undefined || Number(m[1]) <= 65535);
  },
  pathWithQuery: (p) => p === undefined || /^[A-Za-z0-9.\-_~!$&'()*+,;=:@%?/]*$/.test(p),
};
const validName = (name) => typeof name === "string" && TOKEN.test(name);
/** Visible ASCII, space, tab and obs-text; no other control byte. */
function validValue(bytes) {
  if (!(bytes instanceof Uint8Array)) return false;
  for (const b of bytes) {
    if (b < 0x20 ? b !== 0x09 : b === 0x7f) return false;
  }
  return true;
}
const latin1 = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
const fromLatin1 = (text) => new Uint8Array(Buffer.from(text, "latin1"));
const nsToMs = (ns) => (ns === undefined ? undefined : Number(ns) / 1e6);

/** A wasi:http error-code in words, for `to-debug-string`. */
function describeCode(code) {
  if (code.val === undefined) return code.tag;
  const val =
    typeof code.val === "object" ? JSON.stringify(code.val, (_, v) => (typeof v === "bigint" ? Number(v) : v)) : code.val;
  return `${code.tag}: ${val}`;
}

/** A trap: jco turns a thrown `Error` into one; the component's call ends. */
function trap(message) {
  return new Error(`wasi-http: ${message}`);
}

/**
 * A fresh set of `wasi:http`, `wasi:io` and `wasi:clocks` imports with its
 * own worker thread.
 *
 * @param {object} [limits]
 * @param {number} [limits.maxResponseBody]  bytes; over it, `HTTP-response-body-size`
 * @param {number} [limits.maxRequestBody]   bytes; over it, `HTTP-request-body-size`
 */
export function createWasiHttp({ maxResponseBody = 64 * MiB, maxRequestBody = 64 * MiB } = {}) {
  const client = new Client();

  // --- wasi:io/error -------------------------------------------------------

  let errorCodeOf;
  let ioError;
  class IoError {
    #message;
    #code;
    toDebugString() {
      return this.#message;
    }
    static {
      errorCodeOf = (e) => e.#code;
      ioError = (message, code) => {
        const e = new IoError();
        e.#message = message;
        e.#code = code;
        return e;
      };
    }
  }
  const lastOperationFailed = (code) => ({ tag: "last-operation-failed", val: ioError(describeCode(code), code) });

  // --- wasi:io/poll --------------------------------------------------------

  // A pollable is ready now (`always`), at a monotonic instant (`deadline`),
  // or when a worker message makes it so (`ready()` checks; `waits` says
  // whether a message can still come).
  let pollableOf;
  let pollable;
  class Pollable {
    #ready;
    #deadline;
    #waits;
    ready() {
      if (this.#deadline !== undefined) return hrtime.bigint() >= this.#deadline;
      return this.#ready();
    }
    block() {
      while (!this.ready()) waitForAny([this]);
    }
    static {
      pollableOf = (p) => ({ deadline: p.#deadline, waits: p.#waits?.() });
      pollable = ({ ready, deadline, waits }) => {
        const p = new Pollable();
        p.#ready = ready;
        p.#deadline = deadline;
        p.#waits = waits;
        return p;
      };
    }
  }
  const alwaysReady = () => pollable({ ready: () => true });
  const untilInstant = (instant) => pollable({ deadline: BigInt.asUintN(64, BigInt(instant)) });

  /** Sleeps until one of `pollables` may be ready (it may also return early). */
  function waitForAny(pollables) {
    let deadline;
    let onWorker = false;
    let stuck = 0;
    for (const p of pollables) {
      const { deadline: d, waits } = pollableOf(p);
      if (d !== undefined) deadline = deadline === undefined || d < deadline ? d : deadline;
      else if (waits === "worker") onWorker = true;
      else if (waits === "never") stuck += 1;
    }
    if (stuck === pollables.length) {
      throw trap(
        "blocked on a future-incoming-response whose request body was never finished " +
          "(this host sends a request once its outgoing-body is finished)",
      );
    }
    const ms = deadline === undefined ? Infinity : Math.max(0, Number(deadline - hrtime.bigint()) / 1e6);
    if (onWorker) client.wait(ms);
    else if (ms > 0) sleep(ms);
  }

  const poll = {
    Pollable,
    poll(list) {
      if (list.length === 0) throw trap("poll of an empty list would block forever");
      for (;;) {
        const ready = [];
        list.forEach((p, i) => {
          if (p.ready()) ready.push(i);
        });
        if (ready.length > 0) return new Uint32Array(ready);
        waitForAny(list);
      }
    },
  };

  // --- wasi:io/streams -----------------------------------------------------

  // An input stream over bytes already here, then `error` (an error-code) once, then `closed`.
  let inputAlive;
  let inputStream;
  class InputStream {
    #bytes;
    #at = 0;
    #error;
    #alive = true;
    read(len) {
      const remaining = this.#bytes.length - this.#at;
      if (remaining > 0) {
        const n = len >= BigInt(remaining) ? remaining : Number(len);
        const chunk = this.#bytes.subarray(this.#at, this.#at + n);
        this.#at += n;
        return chunk;
      }
      this.#bytes = new Uint8Array(0);
      this.#at = 0;
      if (this.#error) {
        const code = this.#error;
        this.#error = undefined;
        throw lastOperationFailed(code);
      }
      throw { tag: "closed" };
    }
    blockingRead(len) {
      return this.read(len);
    }
    skip(len) {
      return BigInt(this.read(len).length);
    }
    blockingSkip(len) {
      return this.skip(len);
    }
    subscribe() {
      return alwaysReady();
    }
    [symbolDispose]() {
      this.#alive = false;
    }
    static {
      inputAlive = (s) => s.#alive;
      inputStream = (bytes, error) => {
        const s = new InputStream();
        s.#bytes = bytes;
        s.#error = error;
        return s;
      };
    }
  }

  // An output stream into a sink: `write(bytes)` (throws a stream-error), `closed`.
  let outputAlive;
  let outputStream;
  class OutputStream {
    #sink;
    #alive = true;
    #failed = false;
    #check() {
      if (this.#failed || this.#sink.closed()) throw { tag: "closed" };
    }
    checkWrite() {
      this.#check();
      return BigInt(WRITE_BUDGET);
    }
    write(contents) {
      this.#check();
      if (contents.length > WRITE_BUDGET) {
        throw trap(`output-stream.write of ${contents.length} bytes, over the ${WRITE_BUDGET} check-write permits`);
      }
      try {
        this.#sink.write(contents);
      } catch (e) {
        if (e?.tag === "last-operation-failed") this.#failed = true;
        throw e;
      }
    }
    blockingWriteAndFlush(contents) {
      if (contents.length > BLOCKING_WRITE_MAX) {
        throw trap(`blocking-write-and-flush of ${contents.length} bytes, over ${BLOCKING_WRITE_MAX}`);
      }
      this.write(contents);
    }
    // Written bytes are already where they go: flushing has nothing to wait for.
    flush() {
      this.#check();
    }
    blockingFlush() {
      this.#check();
    }
    writeZeroes(len) {
      this.write(new Uint8Array(Number(len)));
    }
    blockingWriteZeroesAndFlush(len) {
      this.blockingWriteAndFlush(new Uint8Array(Number(len)));
    }
    splice(src, len) {
      this.#check();
      const bytes = src.read(len > BigInt(WRITE_BUDGET) ? BigInt(WRITE_BUDGET) : len);
      this.write(bytes);
      return BigInt(bytes.length);
    }
    blockingSplice(src, len) {
      return this.splice(src, len);
    }
    subscribe() {
      return alwaysReady();
    }
    [symbolDispose]() {
      this.#alive = false;
    }
    static {
      outputAlive = (s) => s.#alive;
      outputStream = (sink) => {
        const s = new OutputStream();
        s.#sink = sink;
        return s;
      };
    }
  }

  // --- wasi:http/types: fields ---------------------------------------------

  let lockFields;
  let rawFields;
  let fieldEntries;
  class Fields {
    #entries = []; // [name, Uint8Array], in order
    #immutable = false;
    static fromList(list) {
      const f = new Fields();
      for (const [name, value] of list) f.append(name, value);
      return f;
    }
    #mutable(name, values) {
      if (this.#immutable) throw { tag: "immutable" };
      if (!validName(name) || !values.every(validValue)) throw { tag: "invalid-syntax" };
      if (HOP_BY_HOP_HEADERS.has(name.toLowerCase())) throw { tag: "forbidden" };
    }
    get(name) {
      const key = String(name).toLowerCase();
      return this.#entries.filter(([n]) => n.toLowerCase() === key).map(([, v]) => v);
    }
    has(name) {
      const key = String(name).toLowerCase();
      return this.#entries.some(([n]) => n.toLowerCase() === key);
    }
    set(name, values) {
      this.#mutable(name, values);
      const key = name.toLowerCase();
      this.#entries = this.#entries.filter(([n]) => n.toLowerCase() !== key);
      for (const v of values) this.#entries.push([name, v]);
    }
    delete(name) {
      this.#mutable(name, []);
      const key = name.toLowerCase();
      this.#entries = this.#entries.filter(([n]) => n.toLowerCase() !== key);
    }
    append(name, value) {
      this.#mutable(name, [value]);
      this.#entries.push([name, value]);
    }
    entries() {
      return this.#entries.map(([n, v]) => [n, v]);
    }
    clone() {
      const f = new Fields();
      f.#entries = this.entries();
      return f;
    }
    static {
      lockFields = (f) => {
        f.#immutable = true;
        return f;
      };
      // Entries known valid (a response's): no checks, immutable.
      rawFields = (entries) => {
        const f = new Fields();
        f.#entries = entries;
        f.#immutable = true;
        return f;
      };
      fieldEntries = (f) => f.#entries;
    }
  }

  // --- wasi:http/types: requests -------------------------------------------

  class RequestOptions {
    #connect;
    #firstByte;
    #betweenBytes;
    connectTimeout() {
      return this.#connect;
    }
    setConnectTimeout(duration) {
      this.#connect = duration;
    }
    firstByteTimeout() {
      return this.#firstByte;
    }
    setFirstByteTimeout(duration) {
      this.#firstByte = duration;
    }
    betweenBytesTimeout() {
      return this.#betweenBytes;
    }
    setBetweenBytesTimeout(duration) {
      this.#betweenBytes = duration;
    }
  }

  // The body is collected here; `whenDone(cb)` calls cb({body}) once it is
  // finished, or cb({error}) if it failed or was dropped unfinished.
  let bodyWhenDone;
  let outgoingBody;
  class OutgoingBody {
    #chunks = [];
    #length = 0;
    #declared; // content-length, if the request set one (-1: set, but not a length)
    #stream = null; // the output-stream, once taken
    #state = "open"; // open | finished | failed | dropped
    #error;
    #outcome;
    #listener;
    write() {
      if (this.#stream || this.#state !== "open") throw undefined;
      this.#stream = outputStream({
        closed: () => this.#state !== "open",
        write: (bytes) => this.#take(bytes),
      });
      return this.#stream;
    }
    #take(bytes) {
      const total = this.#length + bytes.length;
      if (total > maxRequestBody || (this.#declared !== undefined && total > this.#declared)) {
        this.#fail({ tag: "HTTP-request-body-size", val: BigInt(total) });
        throw lastOperationFailed(this.#error);
      }
      if (bytes.length > 0) this.#chunks.push(bytes);
      this.#length = total;
    }
    #fail(code) {
      this.#state = "failed";
      this.#error = code;
      this.#chunks = [];
      this.#settle({ error: code });
    }
    #settle(outcome) {
      this.#outcome = outcome;
      const listener = this.#listener;
      this.#listener = undefined;
      listener?.(outcome);
    }
    static finish(body, trailers) {
      if (body.#stream && outputAlive(body.#stream)) {
        throw trap("outgoing-body.finish while its output-stream is still alive (drop the stream first)");
      }
      if (body.#state === "failed") throw body.#error;
      if (body.#state !== "open") throw trap("outgoing-body.finish of a body already finished");
      if (trailers !== undefined) {
        body.#fail({ tag: "internal-error", val: "request trailers are not supported by this host" });
        throw body.#error;
      }
      if (body.#declared !== undefined && body.#length !== body.#declared) {
        body.#fail({ tag: "HTTP-request-body-size", val: BigInt(body.#length) });
        throw body.#error;
      }
      // One buffer of its own: it is transferred to the worker.
      const whole = new Uint8Array(body.#length);
      let at = 0;
      for (const c of body.#chunks) {
        whole.set(c, at);
        at += c.length;
      }
      body.#chunks = [];
      body.#state = "finished";
      body.#settle({ body: whole });
    }
    [symbolDispose]() {
      // Dropped without `finish`: the request is corrupt and is not sent.
      if (this.#state === "open") {
        this.#fail({ tag: "internal-error", val: "the request body was dropped before outgoing-body.finish" });
        this.#state = "dropped";
      }
    }
    static {
      bodyWhenDone = (b, listener) => {
        if (b.#outcome) listener(b.#outcome);
        else b.#listener = listener;
      };
      outgoingBody = (declared) => {
        const b = new OutgoingBody();
        b.#declared = declared;
        return b;
      };
    }
  }

  let requestParts;
  class OutgoingRequest {
    #headers;
    #method = { tag: "get" };
    #scheme;
    #authority;
    #path;
    #body = null;
    #handled = false;
    constructor(headers) {
      if (!(headers instanceof Fields)) throw new TypeError("outgoing-request: headers must be a Fields");
      this.#headers = lockFields(headers);
    }
    body() {
      if (this.#body) throw undefined;
      const declared = this.#headers.get("content-length");
      let length;
      if (declared.length > 0) {
        const text = latin1(declared[0]).trim();
        // An invalid or repeated length is refused when the request is sent.
        length = /^[0-9]+$/.test(text) && declared.length === 1 ? Number(text) : -1;
      }
      this.#body = outgoingBody(length);
      return this.#body;
    }
    method() {
      return this.#method;
    }
    setMethod(method) {
      if (!VALID.method(method)) throw undefined;
      this.#method = method;
    }
    pathWithQuery() {
      return this.#path;
    }
    setPathWithQuery(path) {
      if (!VALID.pathWithQuery(path)) throw undefined;
      this.#path = path;
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
    headers() {
      // An immutable child: the request's own headers, read-only.
      return lockFields(this.#headers.clone());
    }
    static {
      requestParts = (r) => {
        if (r.#handled) throw trap("outgoing-request handled twice");
        r.#handled = true;
        return {
          method: r.#method,
          scheme: r.#scheme,
          authority: r.#authority,
          path: r.#path,
          headers: fieldEntries(r.#headers),
          body: r.#body,
        };
      };
    }
  }

  // --- wasi:http/types: responses ------------------------------------------

  let futureTrailers;
  class FutureTrailers {
    #result;
    #taken = false;
    subscribe() {
      return alwaysReady();
    }
    get() {
      if (this.#taken) return { tag: "err", val: undefined };
      this.#taken = true;
      return { tag: "ok", val: this.#result };
    }
    static {
      futureTrailers = (result) => {
        const t = new FutureTrailers();
        t.#result = result;
        return t;
      };
    }
  }

  let incomingBody;
  class IncomingBody {
    #stream;
    #taken = false;
    #trailers;
    #error;
    stream() {
      if (this.#taken) throw undefined;
      this.#taken = true;
      return this.#stream;
    }
    static finish(body) {
      if (body.#taken && inputAlive(body.#stream)) {
        throw trap("incoming-body.finish while its input-stream is still alive (drop the stream first)");
      }
      if (body.#error) return futureTrailers({ tag: "err", val: body.#error });
      return futureTrailers({ tag: "ok", val: body.#trailers && rawFields(body.#trailers) });
    }
    static {
      incomingBody = (bytes, trailers, error) => {
        const b = new IncomingBody();
        b.#stream = inputStream(bytes, error);
        b.#trailers = trailers;
        b.#error = error;
        return b;
      };
    }
  }

  let incomingResponse;
  class IncomingResponse {
    #status;
    #headers;
    #body;
    status() {
      return this.#status;
    }
    headers() {
      // A fresh handle each time: each is dropped on its own.
      return rawFields(this.#headers);
    }
    consume() {
      if (!this.#body) throw undefined;
      const body = this.#body;
      this.#body = undefined;
      return body;
    }
    static {
      incomingResponse = (status, headers, body) => {
        const r = new IncomingResponse();
        r.#status = status;
        r.#headers = headers;
        r.#body = body;
        return r;
      };
    }
  }

  /** `[name, value, name, value…]` from Node → `[[lower-case name, bytes]]`. */
  const rawPairs = (raw) => {
    const out = [];
    for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i].toLowerCase(), fromLatin1(raw[i + 1])]);
    return out;
  };

  /** A worker message as the inner `result<incoming-response, error-code>`. */
  function responseResult(m) {
    if (m.status === undefined) return { tag: "err", val: m.error };
    const trailers = m.trailers?.length ? rawPairs(m.trailers) : undefined;
    const body = incomingBody(new Uint8Array(m.body), trailers, m.error);
    return { tag: "ok", val: incomingResponse(m.status, rawPairs(m.headers), body) };
  }

  let futureSend;
  let futureResolve;
  class FutureIncomingResponse {
    #id; // the worker's request id while in flight
    #result; // result<incoming-response, error-code>, once known
    #settled = false;
    #taken = false;
    #gone = false;
    #poll() {
      if (this.#settled) return true;
      if (this.#id === undefined) return false;
      const m = client.take(this.#id);
      if (!m) return false;
      this.#id = undefined;
      this.#resolve(responseResult(m));
      return true;
    }
    #resolve(result) {
      this.#settled = true;
      if (!this.#gone) this.#result = result;
    }
    subscribe() {
      return pollable({
        ready: () => this.#poll(),
        waits: () => (this.#settled ? "ready" : this.#id !== undefined ? "worker" : "never"),
      });
    }
    get() {
      if (this.#taken) return { tag: "err", val: undefined };
      if (!this.#poll()) return undefined;
      this.#taken = true;
      const result = this.#result;
      this.#result = undefined;
      return { tag: "ok", val: result };
    }
    [symbolDispose]() {
      // Dropped: the request is abandoned, and its answer with it.
      this.#gone = true;
      this.#result = undefined;
      if (this.#id !== undefined) client.abort(this.#id);
      this.#id = undefined;
    }
    static {
      futureSend = (f, request, body) => {
        if (f.#gone) return;
        f.#id = client.send(request, body);
      };
      futureResolve = (f, result) => f.#resolve(result);
    }
  }

  function handle(request, options) {
    if (!(request instanceof OutgoingRequest)) throw new TypeError("handle: not an outgoing-request of this host");
    const parts = requestParts(request);
    const scheme =
      parts.scheme === undefined || parts.scheme.tag === "HTTPS" ? "https:" : parts.scheme.tag === "HTTP" ? "http:" : null;
    if (!scheme) throw { tag: "HTTP-protocol-error" };
    if (!parts.authority) throw { tag: "HTTP-request-URI-invalid" };
    let url;
    try {
      url = new URL(`${scheme}//${parts.authority}`);
    } catch {
      throw { tag: "HTTP-request-URI-invalid" };
    }
    const headers = [];
    for (const [name, value] of parts.headers) headers.push([name, latin1(value)]);
    const timeout = (get) => nsToMs(get?.call(options) ?? DEFAULT_TIMEOUT_NS);
    const spec = {
      method: parts.method.tag === "other" ? parts.method.val : parts.method.tag.toUpperCase(),
      scheme,
      hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: url.port === "" ? (scheme === "https:" ? 443 : 80) : Number(url.port),
      path: parts.path ?? "/",
      headers,
      timeouts: {
        connect: timeout(options?.connectTimeout),
        firstByte: timeout(options?.firstByteTimeout),
        betweenBytes: timeout(options?.betweenBytesTimeout),
      },
      maxBody: maxResponseBody,
    };
    const future = new FutureIncomingResponse();
    const send = (outcome) => {
      if (outcome.error) futureResolve(future, { tag: "err", val: outcome.error });
      else futureSend(future, spec, outcome.body);
    };
    if (parts.body) {
      bodyWhenDone(parts.body, send);
    } else {
      // No body taken: an empty one, which a declared length must allow.
      const declared = parts.headers.find(([n]) => n.toLowerCase() === "content-length");
      if (declared && latin1(declared[1]).trim() !== "0") {
        send({ error: { tag: "HTTP-request-body-size", val: 0n } });
      } else {
        send({ body: null });
      }
    }
    return future;
  }

  function httpErrorCode(err) {
    return err instanceof IoError ? errorCodeOf(err) : undefined;
  }

  const serverSide = (name) =>
    class {
      constructor() {
        throw trap(`${name} is not implemented: this host makes outgoing requests only`);
      }
    };

  // --- wasi:clocks ---------------------------------------------------------

  const monotonicClock = {
    now: () => hrtime.bigint(),
    resolution: () => 1n,
    subscribeInstant: (instant) => untilInstant(instant),
    subscribeDuration: (duration) => untilInstant(hrtime.bigint() + BigInt(duration)),
  };
  const wallClock = {
    now() {
      const ms = Date.now();
      return { seconds: BigInt(Math.floor(ms / 1000)), nanoseconds: (ms % 1000) * 1_000_000 };
    },
    resolution: () => ({ seconds: 0n, nanoseconds: 1_000_000 }),
  };

  return {
    types: {
      Fields,
      RequestOptions,
      OutgoingRequest,
      OutgoingBody,
      FutureIncomingResponse,
      IncomingResponse,
      IncomingBody,
      FutureTrailers,
      IncomingRequest: serverSide("incoming-request"),
      OutgoingResponse: serverSide("outgoing-response"),
      ResponseOutparam: serverSide("response-outparam"),
      httpErrorCode,
    },
    outgoingHandler: { handle },
    io: {
      error: { Error: IoError },
      poll,
      streams: { InputStream, OutputStream },
    },
    clocks: { monotonicClock, wallClock },
    /** An immutable copy of `fields` (what `outgoing-request.headers()` returns). */
    immutableCopy: (fields) => lockFields(fields.clone()),
    /** Requests sent whose answers are not yet taken or abandoned. */
    inFlight: () => client.live,
    /** Ends the worker; requests still in flight fail with `internal-error`. */
    close: () => client.close(),
  };
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
/** Blocks the thread for `ms` (a private cell nobody notifies). */
function sleep(ms) {
  Atomics.wait(sleepCell, 0, 0, ms);
}

/** The main thread's side of the worker: send, take answers, wait. */
class Client {
  #worker = null;
  #port = null;
  #counter = null;
  #nextId = 1;
  #live = new Set(); // ids sent and not yet answered or abandoned
  #answers = new Map(); // id → message, not yet taken
  #closed = false;

  #start() {
    const { port1, port2 } = new MessageChannel();
    const counter = new SharedArrayBuffer(4);
    this.#worker = new Worker(new URL("./http-worker.mjs", import.meta.url), {
      workerData: { port: port2, counter },
      transferList: [port2],
      env: {},
    });
    // Never what keeps Node running: `close()` ends it, process exit too.
    this.#worker.unref();
    this.#port = port1;
    this.#counter = new Int32Array(counter);
  }

  send(request, body) {
    const id = this.#nextId++;
    if (this.#closed) {
      this.#answers.set(id, { id, error: { tag: "internal-error", val: "the HTTP worker is closed" } });
      this.#live.add(id);
      return id;
    }
    if (!this.#worker) this.#start();
    this.#live.add(id);
    this.#port.postMessage({ type: "request", id, ...request, body }, body ? [body.buffer] : []);
    return id;
  }

  /** Requests sent and not yet taken or abandoned (answered ones included). */
  get live() {
    return this.#live.size;
  }

  abort(id) {
    this.#answers.delete(id);
    if (this.#live.delete(id) && this.#port && !this.#closed) this.#port.postMessage({ type: "abort", id });
  }

  /** The answer to `id`, if it came (taken: asked once). */
  take(id) {
    this.#drain();
    const m = this.#answers.get(id);
    if (m) {
      this.#answers.delete(id);
      this.#live.delete(id);
    }
    return m;
  }

  #drain() {
    if (!this.#port || this.#closed) return 0;
    let n = 0;
    for (let r = receiveMessageOnPort(this.#port); r; r = receiveMessageOnPort(this.#port)) {
      n += 1;
      const m = r.message;
      if (m.fatal !== undefined) {
        this.#fail(`the HTTP worker failed: ${m.fatal}`);
      } else if (this.#live.has(m.id)) {
        this.#answers.set(m.id, m);
      }
    }
    return n;
  }

  /** Sleeps until the worker answers something, or `ms` pass. */
  wait(ms) {
    if (!this.#worker || this.#closed) {
      if (ms > 0 && ms !== Infinity) sleep(ms);
      return;
    }
    const seen = Atomics.load(this.#counter, 0);
    if (this.#drain() > 0) return;
    Atomics.wait(this.#counter, 0, seen, ms);
    this.#drain();
  }

  #fail(why) {
    for (const id of this.#live) {
      if (!this.#answers.has(id)) this.#answers.set(id, { id, error: { tag: "internal-error", val: why } });
    }
  }

  close() {
    if (this.#closed) return;
    this.#drain();
    this.#closed = true;
    this.#fail("the HTTP worker is closed");
    this.#port?.close();
    this.#worker?.terminate();
  }
}
