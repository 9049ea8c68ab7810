// lib/wasi-http.mjs on its own, as the component's bindings call it (a
// `result` error thrown as its payload, a trap as an `Error`), against test
// servers in a worker thread (`testServers` below).

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { after, afterEach, before, describe, test } from "node:test";
import { Worker } from "node:worker_threads";

import { createWasiHttp } from "../lib/wasi-http.mjs";

const text = (s) => new TextEncoder().encode(s);
const decode = (b) => new TextDecoder().decode(b);
const dispose = (resource) => resource[Symbol.dispose || Symbol.for("dispose")]();
const ms = (n) => BigInt(n) * 1_000_000n;
const byteAt = (i) => (i * 7 + 3) % 251;

let servers;
let port;
before(async () => {
  servers = new Worker(`(${testServers})()`, { eval: true });
  port = await new Promise((resolve, reject) => {
    servers.once("message", resolve);
    servers.once("error", reject);
  });
});
after(() => servers?.terminate());

/** Each test's own import set (own worker), closed after the test. */
let opened = [];
function wasiHttp(limits) {
  const w = createWasiHttp(limits);
  opened.push(w);
  return w;
}
afterEach(() => {
  for (const w of opened) w.close();
  opened = [];
});

/** `METHOD path` to the test server; writes `body` (if given) within check-write. */
function start(w, { method = "get", path, headers = [], body, options, authority = `127.0.0.1:${port}` }) {
  const { Fields, OutgoingRequest, OutgoingBody } = w.types;
  const request = new OutgoingRequest(Fields.fromList(headers));
  request.setMethod({ tag: method });
  request.setScheme({ tag: "HTTP" });
  request.setAuthority(authority);
  request.setPathWithQuery(path);
  const outgoing = body === undefined ? undefined : request.body();
  const future = w.outgoingHandler.handle(request, options);
  if (outgoing) {
    const stream = outgoing.write();
    writeAll(stream, body);
    dispose(stream);
    OutgoingBody.finish(outgoing, undefined);
  }
  return future;
}

function writeAll(stream, bytes) {
  while (bytes.length > 0) {
    const n = Number(stream.checkWrite());
    stream.write(bytes.subarray(0, n));
    bytes = bytes.subarray(n);
  }
  stream.blockingFlush();
}

/** Blocks for the response: `{response}` or `{error}` (an error-code). */
function wait(future) {
  future.subscribe().block();
  const r = future.get();
  assert.equal(r.tag, "ok");
  return r.val.tag === "ok" ? { response: r.val.val } : { error: r.val.val };
}

/** The whole body, read `chunk` bytes at a time: `{bytes, reads, end}` (end: the error that ended it). */
function readAll(response, chunk = 1n << 20n) {
  const body = response.consume();
  const stream = body.stream();
  const parts = [];
  let end;
  for (;;) {
    try {
      parts.push(stream.blockingRead(chunk));
    } catch (e) {
      end = e;
      break;
    }
  }
  dispose(stream);
  return { bytes: Buffer.concat(parts), reads: parts.length, end, body, stream };
}

const get = (w, path, extra) => wait(start(w, { path, ...extra }));
const json = (response) => JSON.parse(readAll(response).bytes.toString());

describe("responses", () => {
  test("a body read in small chunks arrives whole, then the stream is closed", () => {
    const w = wasiHttp();
    const { response } = get(w, "/bytes?n=100000&chunk=7000");
    assert.equal(response.status(), 200);
    assert.deepEqual(response.headers().get("Content-Length").map(decode), ["100000"]);
    const { bytes, reads, end, stream } = readAll(response, 1000n);
    assert.equal(bytes.length, 100000);
    assert.equal(reads, 100);
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== byteAt(i)) assert.fail(`byte ${i} differs`);
    assert.deepEqual(end, { tag: "closed" });
    // blocking-read after close: closed again, never data, never a trap.
    assert.deepEqual(catchOf(() => stream.blockingRead(10n)), { tag: "closed" });
    assert.deepEqual(catchOf(() => stream.read(0n)), { tag: "closed" });
  });

  test("read(0) returns nothing, skip skips, a chunked body of unknown length arrives whole", () => {
    const w = wasiHttp();
    const { response } = get(w, "/bytes?n=5000&chunk=999&chunked=1");
    assert.deepEqual(response.headers().get("content-length"), []);
    const stream = response.consume().stream();
    assert.equal(stream.read(0n).length, 0);
    assert.equal(stream.blockingSkip(10n), 10n);
    const first = stream.read(3n);
    assert.deepEqual([...first], [byteAt(10), byteAt(11), byteAt(12)]);
    assert.equal(stream.skip(1n << 40n), 5000n - 13n);
    assert.ok(stream.subscribe().ready());
    assert.deepEqual(catchOf(() => stream.skip(1n)), { tag: "closed" });
  });

  test("concurrent requests complete out of order, each with its own answer", () => {
    const w = wasiHttp();
    const t0 = performance.now();
    const futures = [
      start(w, { path: "/delay?ms=600&tag=slow" }),
      start(w, { path: "/delay?ms=20&tag=fast" }),
      start(w, { path: "/delay?ms=300&tag=middle" }),
    ];
    const pollables = futures.map((f) => f.subscribe());
    const order = [];
    const left = new Set([0, 1, 2]);
    while (left.size > 0) {
      const list = [...left];
      for (const i of w.io.poll.poll(list.map((j) => pollables[j]))) {
        order.push(list[i]);
        left.delete(list[i]);
      }
    }
    assert.deepEqual(order, [1, 2, 0]);
    // Started together, so the slowest sets the pace, not the sum (920 ms).
    assert.ok(performance.now() - t0 < 850, `took ${performance.now() - t0} ms`);
    const tags = futures.map((f) => decode(readAll(wait(f).response).bytes));
    assert.deepEqual(tags, ["slow", "fast", "middle"]);
  });

  test("future.get: none until ready, then the response once, then err", () => {
    const w = wasiHttp();
    const future = start(w, { path: "/delay?ms=200&tag=x" });
    assert.equal(future.get(), undefined);
    assert.equal(future.subscribe().ready(), false);
    future.subscribe().block();
    assert.ok(future.subscribe().ready());
    const first = future.get();
    assert.equal(first.tag, "ok");
    assert.ok(first.val.val instanceof w.types.IncomingResponse);
    assert.deepEqual(future.get(), { tag: "err", val: undefined });
    // consume once; stream once.
    const response = first.val.val;
    const body = response.consume();
    assert.equal(catchOf(() => response.consume()), undefined);
    assert.ok(body.stream() instanceof w.io.streams.InputStream);
    assert.throws(() => body.stream(), (e) => e === undefined);
  });

  test("a body over the cap fails with HTTP-response-body-size, declared or not", () => {
    const w = wasiHttp({ maxResponseBody: 4096 });
    assert.deepEqual(get(w, "/bytes?n=5000").error, { tag: "HTTP-response-body-size", val: 4096n });
    assert.deepEqual(get(w, "/bytes?n=5000&chunk=1000&chunked=1").error, {
      tag: "HTTP-response-body-size",
      val: 4096n,
    });
    // At the cap exactly is fine; the worker is still serving.
    assert.equal(readAll(get(w, "/bytes?n=4096&chunked=1").response).bytes.length, 4096);
  });

  test("response headers are immutable; each headers() is its own handle", () => {
    const w = wasiHttp();
    const { response } = get(w, "/echo");
    const h = response.headers();
    assert.notEqual(h, response.headers());
    assert.deepEqual(catchOf(() => h.set("x-a", [text("1")])), { tag: "immutable" });
    assert.deepEqual(catchOf(() => h.append("x-a", text("1"))), { tag: "immutable" });
    assert.deepEqual(catchOf(() => h.delete("content-type")), { tag: "immutable" });
    assert.deepEqual(h.get("Content-Type").map(decode), ["application/json"]);
    // A clone is mutable.
    const c = h.clone();
    c.set("content-type", [text("text/plain")]);
    assert.deepEqual(c.get("content-type").map(decode), ["text/plain"]);
    assert.deepEqual(h.get("content-type").map(decode), ["application/json"]);
  });

  test("trailers arrive through incoming-body.finish; future-trailers gives them once", () => {
    const w = wasiHttp();
    const { response } = get(w, "/trailers");
    const { bytes, body, end } = readAll(response);
    assert.equal(bytes.toString(), "abc");
    assert.deepEqual(end, { tag: "closed" });
    const trailers = w.types.IncomingBody.finish(body);
    assert.ok(trailers.subscribe().ready());
    const r = trailers.get();
    assert.equal(r.tag, "ok");
    assert.equal(r.val.tag, "ok");
    assert.deepEqual(r.val.val.get("x-checksum").map(decode), ["42"]);
    assert.deepEqual(trailers.get(), { tag: "err", val: undefined });
    // No trailers: none.
    const plain = readAll(get(w, "/bytes?n=10").response);
    assert.deepEqual(w.types.IncomingBody.finish(plain.body).get(), { tag: "ok", val: { tag: "ok", val: undefined } });
  });

  test("incoming-body.finish while its stream is alive traps", () => {
    const w = wasiHttp();
    const body = get(w, "/bytes?n=10").response.consume();
    body.stream();
    assert.throws(() => w.types.IncomingBody.finish(body), /input-stream is still alive/);
  });

  test("a body cut short: what came, then last-operation-failed (HTTP-response-incomplete), then closed", () => {
    const w = wasiHttp();
    const { response } = get(w, "/cut");
    assert.equal(response.status(), 200);
    const stream = response.consume().stream();
    assert.equal(stream.blockingRead(1n << 20n).length, 100);
    const e = catchOf(() => stream.blockingRead(1n << 20n));
    assert.equal(e.tag, "last-operation-failed");
    assert.ok(e.val instanceof w.io.error.Error);
    assert.deepEqual(w.types.httpErrorCode(e.val), { tag: "HTTP-response-incomplete" });
    assert.match(e.val.toDebugString(), /HTTP-response-incomplete/);
    assert.deepEqual(catchOf(() => stream.blockingRead(1n)), { tag: "closed" });
  });
});

describe("failures and timeouts", () => {
  test("connection refused is connection-refused", async () => {
    const closed = await new Promise((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
    const w = wasiHttp();
    assert.deepEqual(get(w, "/", { authority: `127.0.0.1:${closed}` }).error, { tag: "connection-refused" });
  });

  test("a server that never answers: connection-read-timeout at the first-byte timeout, and the request is dropped", () => {
    const w = wasiHttp();
    const options = new w.types.RequestOptions();
    options.setFirstByteTimeout(ms(300));
    assert.equal(options.firstByteTimeout(), ms(300));
    assert.equal(options.connectTimeout(), undefined);
    const t0 = performance.now();
    assert.deepEqual(get(w, "/hang", { options }).error, { tag: "connection-read-timeout" });
    const took = performance.now() - t0;
    assert.ok(took >= 290 && took < 3000, `took ${took} ms`);
    assert.equal(untilClosedEarly(w, 1), 1);
  });

  test("between-bytes timeout: the head and what came, then connection-read-timeout", () => {
    const w = wasiHttp();
    const options = new w.types.RequestOptions();
    options.setBetweenBytesTimeout(ms(300));
    const { response } = get(w, "/stall", { options });
    const stream = response.consume().stream();
    assert.equal(stream.blockingRead(1n << 20n).length, 100);
    const e = catchOf(() => stream.blockingRead(1n << 20n));
    assert.deepEqual(w.types.httpErrorCode(e.val), { tag: "connection-read-timeout" });
  });

  test("a dropped future abandons its request; the worker goes on serving", () => {
    const w = wasiHttp();
    const before = json(get(w, "/stats").response).closedEarly;
    const future = start(w, { path: "/hang" });
    const p = future.subscribe();
    assert.equal(p.ready(), false);
    dispose(future);
    assert.equal(untilClosedEarly(w, before + 1), before + 1);
    assert.equal(decode(readAll(get(w, "/delay?ms=1&tag=after").response).bytes), "after");
  });

  test("close() fails what is in flight with internal-error, and what comes after", () => {
    const w = createWasiHttp();
    const future = start(w, { path: "/delay?ms=5000" });
    w.close();
    const r = wait(future).error;
    assert.equal(r.tag, "internal-error");
    assert.match(r.val, /closed/);
    assert.equal(get(w, "/echo").error.tag, "internal-error");
  });

  test("a scheme other than http/https is HTTP-protocol-error; no authority, HTTP-request-URI-invalid", () => {
    const w = wasiHttp();
    const { Fields, OutgoingRequest } = w.types;
    const r = new OutgoingRequest(new Fields());
    r.setScheme({ tag: "other", val: "ftp" });
    r.setAuthority("127.0.0.1:21");
    assert.deepEqual(catchOf(() => w.outgoingHandler.handle(r)), { tag: "HTTP-protocol-error" });
    const r2 = new OutgoingRequest(new Fields());
    assert.deepEqual(catchOf(() => w.outgoingHandler.handle(r2)), { tag: "HTTP-request-URI-invalid" });
  });
});

describe("requests", () => {
  test("a POST body written in pieces arrives intact, with the headers as given", () => {
    const w = wasiHttp();
    const body = randomBytes(300_000);
    const { response } = get(w, "/echo?x=1", {
      method: "post",
      body,
      headers: [
        ["content-length", text(String(body.length))],
        ["X-Custom", text("a")],
        ["x-custom", text("b")],
        ["x-latin1", Uint8Array.of(0x63, 0x61, 0x66, 0xe9)],
      ],
    });
    const seen = json(response);
    assert.equal(seen.method, "POST");
    assert.equal(seen.url, "/echo?x=1");
    assert.equal(seen.length, body.length);
    assert.equal(seen.sha256, createHash("sha256").update(body).digest("hex"));
    const headers = [];
    for (let i = 0; i < seen.headers.length; i += 2) headers.push([seen.headers[i], seen.headers[i + 1]]);
    // Both values of the repeated name, in order (Node writes one spelling
    // of a name); the latin-1 byte as it was.
    assert.deepEqual(
      headers.filter(([n]) => n.toLowerCase().startsWith("x-")).map(([n, v]) => [n.toLowerCase(), v]),
      [
        ["x-custom", "a"],
        ["x-custom", "b"],
        ["x-latin1", "caf\u00e9"],
      ],
    );
    assert.deepEqual(
      headers.find(([n]) => n.toLowerCase() === "host"),
      ["Host", `127.0.0.1:${port}`],
    );
  });

  test("a POST without content-length, and an empty one, arrive intact", () => {
    const w = wasiHttp();
    const body = randomBytes(70_000);
    const seen = json(get(w, "/echo", { method: "post", body }).response);
    assert.equal(seen.length, body.length);
    assert.equal(seen.sha256, createHash("sha256").update(body).digest("hex"));
    const empty = json(get(w, "/echo", { method: "put", body: new Uint8Array(0), headers: [["content-length", text("0")]] }).response);
    assert.equal(empty.method, "PUT");
    assert.equal(empty.length, 0);
  });

  test("a body that does not match its content-length is refused, and never sent", () => {
    const w = wasiHttp();
    const { Fields, OutgoingRequest, OutgoingBody } = w.types;
    const request = new OutgoingRequest(Fields.fromList([["content-length", text("10")]]));
    request.setMethod({ tag: "post" });
    request.setScheme({ tag: "HTTP" });
    request.setAuthority(`127.0.0.1:${port}`);
    request.setPathWithQuery("/echo");
    const body = request.body();
    const future = w.outgoingHandler.handle(request);
    const stream = body.write();
    stream.write(text("short"));
    // More than declared: the write fails, then the stream is closed.
    const e = catchOf(() => stream.write(text("and far too long")));
    assert.equal(e.tag, "last-operation-failed");
    assert.deepEqual(w.types.httpErrorCode(e.val), { tag: "HTTP-request-body-size", val: 21n });
    assert.deepEqual(catchOf(() => stream.checkWrite()), { tag: "closed" });
    dispose(stream);
    assert.deepEqual(catchOf(() => OutgoingBody.finish(body, undefined)), { tag: "HTTP-request-body-size", val: 21n });
    assert.deepEqual(wait(future).error, { tag: "HTTP-request-body-size", val: 21n });

    // Fewer than declared: finish refuses.
    const r2 = new OutgoingRequest(Fields.fromList([["content-length", text("10")]]));
    r2.setAuthority(`127.0.0.1:${port}`);
    r2.setScheme({ tag: "HTTP" });
    const b2 = r2.body();
    const f2 = w.outgoingHandler.handle(r2);
    const s2 = b2.write();
    s2.write(text("short"));
    dispose(s2);
    assert.deepEqual(catchOf(() => OutgoingBody.finish(b2, undefined)), { tag: "HTTP-request-body-size", val: 5n });
    assert.deepEqual(wait(f2).error, { tag: "HTTP-request-body-size", val: 5n });
  });

  test("a body over maxRequestBody fails the write with HTTP-request-body-size", () => {
    const w = wasiHttp({ maxRequestBody: 1000 });
    const { Fields, OutgoingRequest } = w.types;
    const request = new OutgoingRequest(new Fields());
    request.setMethod({ tag: "post" });
    request.setScheme({ tag: "HTTP" });
    request.setAuthority(`127.0.0.1:${port}`);
    const body = request.body();
    const future = w.outgoingHandler.handle(request);
    const stream = body.write();
    stream.write(new Uint8Array(600));
    const e = catchOf(() => stream.write(new Uint8Array(600)));
    assert.deepEqual(w.types.httpErrorCode(e.val), { tag: "HTTP-request-body-size", val: 1200n });
    dispose(stream);
    assert.equal(wait(future).error.tag, "HTTP-request-body-size");

    // A larger content-length does not lift the cap.
    const r2 = new OutgoingRequest(Fields.fromList([["content-length", text("5000")]]));
    const b2 = r2.body();
    const s2 = b2.write();
    assert.deepEqual(w.types.httpErrorCode(catchOf(() => s2.write(new Uint8Array(1200))).val), {
      tag: "HTTP-request-body-size",
      val: 1200n,
    });
  });

  test("a body dropped unfinished fails the request; waiting on an open body traps", () => {
    const w = wasiHttp();
    const { Fields, OutgoingRequest } = w.types;
    const make = () => {
      const r = new OutgoingRequest(new Fields());
      r.setMethod({ tag: "post" });
      r.setScheme({ tag: "HTTP" });
      r.setAuthority(`127.0.0.1:${port}`);
      const body = r.body();
      return { body, future: w.outgoingHandler.handle(r) };
    };
    const open = make();
    assert.equal(open.future.get(), undefined);
    assert.throws(() => open.future.subscribe().block(), /request body was never finished/);
    assert.throws(() => w.io.poll.poll([open.future.subscribe()]), /never finished/);
    dispose(open.body);
    const error = wait(open.future).error;
    assert.equal(error.tag, "internal-error");
    assert.match(error.val, /dropped before outgoing-body.finish/);
  });

  test("the body may be finished before handle; the request goes at handle", () => {
    const w = wasiHttp();
    const { Fields, OutgoingRequest, OutgoingBody } = w.types;
    const r = new OutgoingRequest(new Fields());
    r.setMethod({ tag: "post" });
    r.setScheme({ tag: "HTTP" });
    r.setAuthority(`127.0.0.1:${port}`);
    r.setPathWithQuery("/echo");
    const body = r.body();
    const s = body.write();
    s.blockingWriteAndFlush(text("early"));
    dispose(s);
    OutgoingBody.finish(body, undefined);
    assert.equal(json(wait(w.outgoingHandler.handle(r)).response).length, 5);
  });

  test("stream contracts: over-budget writes trap, finish with a live stream traps, write() once, trailers refused", () => {
    const w = wasiHttp();
    const { Fields, OutgoingRequest, OutgoingBody } = w.types;
    const r = new OutgoingRequest(new Fields());
    const body = r.body();
    assert.throws(() => r.body(), (e) => e === undefined);
    const s = body.write();
    assert.throws(() => body.write(), (e) => e === undefined);
    assert.ok(s.subscribe().ready());
    assert.throws(() => s.write(new Uint8Array(Number(s.checkWrite()) + 1)), /check-write permits/);
    assert.throws(() => s.blockingWriteAndFlush(new Uint8Array(4097)), /over 4096/);
    assert.throws(() => OutgoingBody.finish(body, undefined), /output-stream is still alive/);
    dispose(s);
    assert.equal(
      catchOf(() => OutgoingBody.finish(body, new Fields())).val,
      "request trailers are not supported by this host",
    );
  });

  test("sequential requests reuse one keep-alive connection", () => {
    const w = wasiHttp();
    const first = json(get(w, "/stats").response).connections;
    for (let i = 0; i < 5; i++) readAll(get(w, "/bytes?n=1000").response);
    assert.equal(json(get(w, "/stats").response).connections, first);
  });

  test("outgoing-request validates what it is given", () => {
    const w = wasiHttp();
    const { Fields, OutgoingRequest } = w.types;
    const r = new OutgoingRequest(Fields.fromList([["x-a", text("1")]]));
    assert.deepEqual(r.method(), { tag: "get" });
    assert.equal(catchOf(() => r.setMethod({ tag: "other", val: "NOT A TOKEN" })), undefined);
    r.setMethod({ tag: "other", val: "PROPFIND" });
    assert.deepEqual(r.method(), { tag: "other", val: "PROPFIND" });
    for (const bad of ["a b", "host:99999", "user@host", "host/path"]) {
      assert.throws(() => r.setAuthority(bad), (e) => e === undefined, bad);
    }
    r.setAuthority("[::1]:8080");
    assert.equal(r.authority(), "[::1]:8080");
    assert.throws(() => r.setPathWithQuery("/a b"), (e) => e === undefined);
    // The request's headers: immutable, its own copy.
    const h = r.headers();
    assert.deepEqual(catchOf(() => h.append("x-b", text("2"))), { tag: "immutable" });
    assert.deepEqual(h.entries().map(([n, v]) => [n, decode(v)]), [["x-a", "1"]]);
  });
});

describe("fields", () => {
  test("from-list, get, has, set, append, delete, entries, clone", () => {
    const { Fields } = wasiHttp().types;
    const f = Fields.fromList([
      ["Accept", text("a")],
      ["x-one", text("1")],
      ["accept", text("b")],
    ]);
    assert.deepEqual(f.get("ACCEPT").map(decode), ["a", "b"]);
    assert.equal(f.has("X-One"), true);
    assert.equal(f.has("x-two"), false);
    assert.deepEqual(f.get("x-two"), []);
    f.append("x-two", text("2"));
    f.set("accept", [text("c")]);
    assert.deepEqual(
      f.entries().map(([n, v]) => [n, decode(v)]),
      [
        ["x-one", "1"],
        ["x-two", "2"],
        ["accept", "c"],
      ],
    );
    f.delete("X-ONE");
    assert.equal(f.has("x-one"), false);
    const c = f.clone();
    c.append("x-three", text("3"));
    assert.equal(f.has("x-three"), false);
    // entries() is a copy: changing it changes nothing.
    f.entries().pop();
    assert.equal(f.entries().length, 2);
  });

  test("invalid names and values are invalid-syntax; hop-by-hop names are forbidden", () => {
    const { Fields } = wasiHttp().types;
    const f = new Fields();
    assert.deepEqual(catchOf(() => f.append("bad name", text("x"))), { tag: "invalid-syntax" });
    assert.deepEqual(catchOf(() => f.append("x-a", text("line\r\nbreak"))), { tag: "invalid-syntax" });
    assert.deepEqual(catchOf(() => f.set("x-a", [text("ok"), Uint8Array.of(0)])), { tag: "invalid-syntax" });
    for (const name of ["Host", "connection", "Keep-Alive", "transfer-encoding", "upgrade", "te"]) {
      assert.deepEqual(catchOf(() => f.append(name, text("x"))), { tag: "forbidden" }, name);
      assert.deepEqual(catchOf(() => Fields.fromList([[name, text("x")]])), { tag: "forbidden" }, name);
    }
    assert.deepEqual(f.entries(), []);
  });

  test("fields given to an outgoing-request become immutable", () => {
    const { Fields, OutgoingRequest } = wasiHttp().types;
    const f = new Fields();
    new OutgoingRequest(f);
    assert.deepEqual(catchOf(() => f.append("x-a", text("1"))), { tag: "immutable" });
  });
});

describe("clocks and poll", () => {
  test("subscribe-duration blocks for its duration; subscribe-instant at its instant", () => {
    const { monotonicClock } = wasiHttp().clocks;
    const t0 = monotonicClock.now();
    const p = monotonicClock.subscribeDuration(ms(80));
    assert.equal(p.ready(), false);
    p.block();
    assert.ok(monotonicClock.now() - t0 >= ms(80));
    assert.ok(p.ready());
    assert.equal(monotonicClock.subscribeInstant(t0).ready(), true);
    assert.equal(monotonicClock.resolution(), 1n);
  });

  test("poll returns the ready ones: a timer before a slow response", () => {
    const w = wasiHttp();
    const slow = start(w, { path: "/delay?ms=800" }).subscribe();
    const timer = w.clocks.monotonicClock.subscribeDuration(ms(50));
    const t0 = performance.now();
    assert.deepEqual([...w.io.poll.poll([slow, timer])], [1]);
    assert.ok(performance.now() - t0 < 700);
    assert.deepEqual([...w.io.poll.poll([slow, timer])].includes(1), true);
    assert.throws(() => w.io.poll.poll([]), /empty list/);
  });

  test("wall-clock gives seconds and nanoseconds", () => {
    const { wallClock } = wasiHttp().clocks;
    const { seconds, nanoseconds } = wallClock.now();
    assert.ok(Math.abs(Number(seconds) - Date.now() / 1000) < 2);
    assert.ok(nanoseconds >= 0 && nanoseconds < 1e9);
    assert.deepEqual(wallClock.resolution(), { seconds: 0n, nanoseconds: 1_000_000 });
  });
});

describe("not implemented", () => {
  test("the server side traps with a clear message", () => {
    const { types } = wasiHttp();
    assert.throws(() => new types.OutgoingResponse(new types.Fields()), /not implemented/);
    assert.throws(() => new types.IncomingRequest(), /not implemented/);
  });
});

/** What `fn` throws (a result's error payload); fails if it returns. */
function catchOf(fn) {
  try {
    fn();
  } catch (e) {
    if (e instanceof Error) throw e; // a trap, not a result
    return e;
  }
  assert.fail("expected an error");
}

/** Polls the server's count of abandoned requests until it reaches `n` (2 s at most). */
function untilClosedEarly(w, n) {
  const deadline = performance.now() + 2000;
  for (;;) {
    const seen = json(get(w, "/stats").response).closedEarly;
    if (seen >= n || performance.now() > deadline) return seen;
    w.clocks.monotonicClock.subscribeDuration(ms(20)).block();
  }
}

/**
 * The test servers, run in a worker thread (`new Worker(source, {eval:
 * true})`): the code under test blocks the main thread in Atomics.wait while
 * it waits for an answer, so a server there could never answer. One
 * node:http server; the path picks the behaviour. Posts its port.
 */
function testServers() {
  const { createHash } = require("node:crypto");
  const http = require("node:http");
  const { parentPort } = require("node:worker_threads");

  const stats = { connections: 0, closedEarly: 0 };
  /** Byte i of a generated body. */
  const byteAt = (i) => (i * 7 + 3) % 251;
  const bytes = (n) => Uint8Array.from({ length: n }, (_, i) => byteAt(i));

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://test");
    const q = (k, d) => url.searchParams.get(k) ?? d;
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      switch (url.pathname) {
        case "/echo":
          res.setHeader("content-type", "application/json");
          res.end(
            JSON.stringify({
              method: req.method,
              url: req.url,
              headers: req.rawHeaders,
              length: body.length,
              sha256: createHash("sha256").update(body).digest("hex"),
            }),
          );
          break;
        case "/delay":
          setTimeout(() => res.end(q("tag", "")), Number(q("ms", "0")));
          break;
        case "/bytes": {
          // n bytes, written `chunk` at a time, with or without a length.
          const all = bytes(Number(q("n", "0")));
          const chunk = Number(q("chunk", "65536"));
          if (q("chunked") !== "1") res.setHeader("content-length", String(all.length));
          let at = 0;
          const next = () => {
            if (at >= all.length) return res.end();
            res.write(all.subarray(at, at + chunk));
            at += chunk;
            setImmediate(next);
          };
          next();
          break;
        }
        case "/hang":
          // Never answers; counts the requests given up on.
          res.on("close", () => {
            if (!res.writableEnded) stats.closedEarly += 1;
          });
          break;
        case "/cut":
          // 100 of the 1,000 bytes promised, then the connection drops.
          res.writeHead(200, { "content-length": "1000" });
          res.write(Buffer.alloc(100, 97));
          setTimeout(() => res.socket.destroy(), 20);
          break;
        case "/stall":
          // 100 of the 1,000 bytes promised, then nothing.
          res.writeHead(200, { "content-length": "1000" });
          res.write(Buffer.alloc(100, 97));
          break;
        case "/trailers":
          res.writeHead(200, { trailer: "x-checksum" });
          res.write("abc");
          res.addTrailers({ "x-checksum": "42" });
          res.end();
          break;
        case "/stats":
          res.end(JSON.stringify(stats));
          break;
        default:
          res.statusCode = 404;
          res.end("no such path");
      }
    });
  });
  server.on("connection", () => {
    stats.connections += 1;
  });
  server.listen(0, "127.0.0.1", () => parentPort.postMessage(server.address().port));
}
