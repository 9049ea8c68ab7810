// Starts `fake-servers` (fakes/: the fake Dropbox and the fake
// Oomnitza) in its own process and reads the JSON line with their URLs.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";

/** The binaries `./run` builds; override with the environment. */
export const FAKE_SERVERS_BIN = process.env.FAKE_SERVERS_BIN;
export const OOMNITZA_CONNECT_BIN = process.env.OOMNITZA_CONNECT_BIN;

export async function startFakes({ members = 2500, seed = 7, args = [] } = {}) {
  if (!FAKE_SERVERS_BIN) throw new Error("FAKE_SERVERS_BIN is not set: run through ./run");
  const dropboxToken = `sl.jco-${randomBytes(8).toString("hex")}`;
  const oomnitzaToken = `jco-${randomBytes(8).toString("hex")}`;
  const child = spawn(
    FAKE_SERVERS_BIN,
    ["--members", String(members), "--seed", String(seed), "--dropbox-token", dropboxToken,
      "--oomnitza-token", oomnitzaToken, "--pregenerate", "none", ...args],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error("fake-servers exited before printing its URLs");
  const urls = JSON.parse(first.value);
  return {
    dropbox: urls.dropbox,
    oomnitza: urls.oomnitza,
    dropboxToken,
    oomnitzaToken,
    /** Closes stdin (the fakes' signal to stop) and returns the final stats. */
    async stop() {
      child.stdin.end();
      let last;
      for (let l = await lines.next(); !l.done; l = await lines.next()) last = l.value;
      return last ? JSON.parse(last) : undefined;
    },
  };
}
