import assert from "node:assert/strict";
import { sandbox } from "../helpers/cli.ts";
import { netnsTest, reap } from "./_netns.ts";
import { stdoutLines } from "./_pg.ts";

// Inside a host: connects to the database, then on each stdin line reports what the held
// connection and a new connection do within 1.5 s ("reply", "hang" or "error: ...").
const PROBE = `
const [host] = Deno.args;
const conn = await Deno.connect({ hostname: host, port: 5432 });
const sslRequest = new Uint8Array([0, 0, 0, 8, 4, 210, 22, 47]);
const within = (p, ms) => Promise.race([
  p.then(() => "reply", (e) => "error: " + e.message),
  new Promise((r) => setTimeout(() => r("hang"), ms)),
]);
let reading = null;
const say = (o) => console.log(JSON.stringify(o));
say({ connected: true });
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
for await (const _ of lines) {
  if (!reading) {
    await conn.write(sslRequest).catch(() => {});
    reading = conn.read(new Uint8Array(1));
  }
  const held = await within(reading, 1500);
  if (held !== "hang") reading = null;
  const fresh = await within(
    Deno.connect({ hostname: host, port: 5432 }).then((c) => c.close()), 1500);
  say({ held, fresh });
}
`;

netnsTest(
  "a host's link cut makes TCP hang (no reset), and the held connection resumes when restored",
  1,
  async (_scope, [a]) => {
    const script = await Deno.makeTempFile({ suffix: ".js" });
    await Deno.writeTextFile(script, PROBE);
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", a.ns, Deno.execPath(), "run", "-A", script, a.gateway],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const w = child.stdin.getWriter();
    try {
      const lines = stdoutLines(child);
      const next = async () => JSON.parse((await lines.next()).value as string);
      assert.deepEqual(await next(), { connected: true });
      await a.cut();
      await w.write(new TextEncoder().encode("probe\n"));
      assert.deepEqual(await next(), { held: "hang", fresh: "hang" }, "cut: nothing answers");
      await a.restore();
      await w.write(new TextEncoder().encode("probe\n"));
      assert.deepEqual(await next(), { held: "reply", fresh: "reply" }, "restored");
    } finally {
      await w.close().catch(() => {});
      await reap(child);
      await Deno.remove(script);
    }
  },
);

netnsTest(
  "orch runs inside a host and reaches the store through its link",
  1,
  async (scope, [a]) => {
    const sb = await sandbox();
    try {
      const child = a.orch(["db", "status"], {
        cwd: sb.dir,
        env: { ...sb.env, ORCH_STORE: a.storeUrl(scope.url) },
      });
      const out = await child.output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, text);
      // Inside the host, 127.0.0.1 is the host's own loopback: no database there.
      const alone = await a.orch(["db", "status"], {
        cwd: sb.dir,
        env: { ...sb.env, ORCH_STORE: scope.url },
      }).output();
      assert.notEqual(alone.code, 0, "the host reaches the database only through its link");
    } finally {
      await sb.cleanup();
    }
  },
);
