// bench/paperclip-sync.mjs -- Paperclip's own workspace file sync
// (@paperclipai/adapter-utils, createCommandManagedRuntimeClient: chunked
// `base64 -d >>` writes of 4 MiB of base64 per exec, `dd | base64` reads)
// through the bridge: acquire, write SIZE random bytes, read them back,
// compare, DELETE. The runner is a minimal stand-in for the plugin's: one
// POST /exec per command, SSE (default) or JSON (STREAM=0).
//
//   npm install --no-save --prefix bench @paperclipai/adapter-utils  (once)
//   BASE=http://127.0.0.1:18080/api/paperclip-sandbox/v1 TOKEN=<token> \
//       SIZE=20971520 node bench/paperclip-sync.mjs
import { createCommandManagedRuntimeClient } from "@paperclipai/adapter-utils/command-managed-runtime";
import crypto from "node:crypto";
const base = process.env.BASE, token = process.env.TOKEN;
const size = Number(process.env.SIZE || 20 * 1024 * 1024);
const stream = process.env.STREAM !== "0";
async function api(path, body) {
  const r = await fetch(base + path, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  return r;
}
const lease = await (await api("/leases/acquire", { environmentId: "pc-sync", runId: "r1", reuseLease: false, timeoutMs: 300000 })).json();
const id = lease.providerLeaseId;
const runner = {
  supportsSingleStreamStdinProgress: false,
  async execute(input) {
    const r = await api("/exec", { providerLeaseId: id, command: input.command, args: input.args, cwd: input.cwd, env: input.env, stdin: input.stdin, timeoutMs: input.timeoutMs, streamOutput: stream });
    if (!stream) { if (r.status !== 200) throw new Error(`exec ${r.status}: ${await r.text()}`); const j = await r.json(); return { ...j, pid: null, startedAt: null }; }
    if (r.status !== 200) throw new Error(`exec ${r.status}: ${await r.text()}`);
    const text = await r.text();
    for (const ev of text.split("\n\n")) {
      const m = ev.match(/^event: (\w+)\ndata: (.*)$/s);
      if (m && m[1] === "complete") return { ...JSON.parse(m[2]), pid: null, startedAt: null };
      if (m && m[1] === "error") throw new Error("exec error event: " + m[2]);
    }
    throw new Error("no terminal event");
  },
};
const client = createCommandManagedRuntimeClient({ runner, commandCwd: "/workspace/paperclip", timeoutMs: 300000, shellCommand: "sh" });
const data = crypto.randomBytes(size);
let t = Date.now();
await client.writeFile("/workspace/paperclip/big.bin", data);
const tw = (Date.now() - t) / 1000; t = Date.now();
const back = await client.readFile("/workspace/paperclip/big.bin");
const tr = (Date.now() - t) / 1000;
const ok = Buffer.compare(data, back) === 0;
console.log(`lease ${id}: ${size} bytes, write ${tw}s, read ${tr}s, sha256 ${crypto.createHash("sha256").update(data).digest("hex").slice(0, 16)}, identical: ${ok}`);
await fetch(base + "/leases/" + id, { method: "DELETE", headers: { authorization: `Bearer ${token}` } });
process.exit(ok ? 0 : 1);
