// The worker thread behind lib/wasi-http.mjs: performs each request with
// node:http / node:https (keep-alive agents), buffers the whole response
// body (up to a cap), and posts one message per request back:
//
//   {id, status, headers, body, trailers, error?}   the response (body an
//       ArrayBuffer, transferred; `error` when the body was cut short: the
//       component reads what came, then the stream fails with that code)
//   {id, error}                                     no response (an error-code)
//
// After each message it bumps the shared counter and notifies it: the main
// thread sleeps in `Atomics.wait` on that counter while the component
// blocks, and takes messages with `receiveMessageOnPort`. So one response
// is one round trip between the threads, however large its body.
//
// Requests in: {type: "request", id, method, scheme, hostname, port, path,
// headers: [[name, latin1 value]], body: Uint8Array | null, timeouts: {connect,
// firstByte, betweenBytes} (ms), maxBody}; {type: "abort", id}.

import * as http from "node:http";
import * as https from "node:https";
import { workerData } from "node:worker_threads";

const { port, counter: counterBuffer } = workerData;
const counter = new Int32Array(counterBuffer);

// Nothing should throw out of a handler; if something does, every request
// in flight fails (the main thread may be blocked waiting for one).
process.on("uncaughtException", (e) => {
  port.postMessage({ fatal: String(e?.stack ?? e) });
  Atomics.add(counter, 0, 1);
  Atomics.notify(counter, 0);
});

const agents = {
  "http:": new http.Agent({ keepAlive: true }),
  "https:": new https.Agent({ keepAlive: true }),
};

/** id → abort(), for the requests not yet answered. */
const inflight = new Map();

port.on("message", (m) => {
  if (m.type === "request") start(m);
  else if (m.type === "abort") inflight.get(m.id)?.();
});

function reply(message, transfer) {
  port.postMessage(message, transfer);
  // After the message is queued: a main thread woken by this finds it.
  Atomics.add(counter, 0, 1);
  Atomics.notify(counter, 0);
}

function start({ id, method, scheme, hostname, port: upstreamPort, path, headers, body, timeouts, maxBody }) {
  let req;
  let settled = false;
  const timers = new Set();
  // `ms` undefined: no bound. Node fires a timer over 2^31-1 ms at once,
  // so a longer bound is none too (24 days).
  const timer = (ms, onFire) => {
    if (!(ms >= 0 && ms <= 0x7fffffff)) return undefined;
    const t = setTimeout(() => {
      timers.delete(t);
      onFire();
    }, ms);
    timers.add(t);
    return t;
  };
  const clear = (t) => {
    clearTimeout(t);
    timers.delete(t);
  };
  const settle = (message, transfer) => {
    if (settled) return;
    settled = true;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    inflight.delete(id);
    reply(message, transfer);
  };
  // No response: the future resolves to this error code.
  const fail = (code) => {
    settle({ id, error: code });
    req?.destroy();
  };
  inflight.set(id, () => {
    settled = true;
    for (const t of timers) clearTimeout(t);
    inflight.delete(id);
    req?.destroy();
  });

  const lib = scheme === "https:" ? https : http;
  try {
    req = lib.request({
      agent: agents[scheme],
      method,
      hostname,
      port: upstreamPort,
      path,
    });
    for (const [name, value] of headers) req.appendHeader(name, value);
  } catch (e) {
    fail(errorCode(e));
    return;
  }

  let firstByte;
  const sent = () => {
    firstByte = timer(timeouts.firstByte, () => fail({ tag: "connection-read-timeout" }));
  };
  req.on("socket", (socket) => {
    if (!socket.connecting) {
      sent();
      return;
    }
    const connect = timer(timeouts.connect, () => fail({ tag: "connection-timeout" }));
    socket.once(scheme === "https:" ? "secureConnect" : "connect", () => {
      clear(connect);
      sent();
    });
  });
  let responded = false;
  // Before the response only: after it, the response's own events decide.
  req.on("error", (e) => {
    if (!responded) fail(errorCode(e));
  });
  req.on("response", (res) => {
    responded = true;
    clear(firstByte);
    const declared = res.headers["content-length"] === undefined ? NaN : Number(res.headers["content-length"]);
    if (declared > maxBody) {
      fail({ tag: "HTTP-response-body-size", val: BigInt(maxBody) });
      return;
    }
    // Sized once when the length is known; otherwise chunks, joined at the end.
    const whole = Number.isSafeInteger(declared) ? new Uint8Array(new ArrayBuffer(declared)) : null;
    const chunks = [];
    let length = 0;
    const between = () => timer(timeouts.betweenBytes, () => done({ tag: "connection-read-timeout" }));
    let idle = between();
    const done = (error) => {
      if (settled) return;
      let buffer;
      if (whole && length === whole.length) {
        buffer = whole.buffer;
      } else {
        const out = new Uint8Array(new ArrayBuffer(length));
        if (whole) out.set(whole.subarray(0, length));
        else {
          let at = 0;
          for (const c of chunks) {
            out.set(c, at);
            at += c.length;
          }
        }
        buffer = out.buffer;
      }
      settle(
        { id, status: res.statusCode, headers: res.rawHeaders, body: buffer, trailers: res.rawTrailers, error },
        [buffer],
      );
      if (error) res.destroy();
    };
    res.on("data", (chunk) => {
      if (settled) return;
      clear(idle);
      if (length + chunk.length > maxBody) {
        fail({ tag: "HTTP-response-body-size", val: BigInt(maxBody) });
        return;
      }
      if (whole && length + chunk.length <= whole.length) whole.set(chunk, length);
      else chunks.push(chunk);
      length += chunk.length;
      idle = between();
    });
    res.on("end", () => done(undefined));
    res.on("error", () => done({ tag: "HTTP-response-incomplete" }));
    res.on("close", () => {
      if (!res.complete) done({ tag: "HTTP-response-incomplete" });
    });
  });
  if (body) req.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  else req.end();
}

/** The wasi:http error-code of a Node error raised before any response. */
function errorCode(e) {
  const code = e?.code;
  switch (code) {
    case "ECONNREFUSED":
      return { tag: "connection-refused" };
    case "ECONNRESET":
    case "EPIPE":
      return { tag: "connection-terminated" };
    case "ETIMEDOUT":
      return { tag: "connection-timeout" };
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_FAIL":
    case "EAI_NONAME":
    case "EAI_NODATA":
      return { tag: "DNS-error", val: { rcode: code, infoCode: undefined } };
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return { tag: "destination-IP-unroutable" };
    case "EHOSTDOWN":
    case "ENETDOWN":
      return { tag: "destination-unavailable" };
    case "EADDRNOTAVAIL":
      return { tag: "destination-not-found" };
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "CERT_HAS_EXPIRED":
    case "CERT_NOT_YET_VALID":
    case "CERT_REVOKED":
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return { tag: "TLS-certificate-error" };
    case "ERR_INVALID_HTTP_TOKEN":
    case "ERR_INVALID_CHAR":
    case "ERR_HTTP_INVALID_HEADER_VALUE":
    case "ERR_UNESCAPED_CHARACTERS":
      return { tag: "internal-error", val: `request rejected by Node: ${e.message}` };
  }
  if (typeof code === "string") {
    if (code.startsWith("HPE_")) return { tag: "HTTP-protocol-error" };
    if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_")) return { tag: "TLS-protocol-error" };
  }
  return { tag: "internal-error", val: String(e?.message ?? e) };
}
