import assert from "node:assert/strict";
import { FencedError, LeaderElection, PostgresStateStore } from "../../src/store/postgres/mod.ts";
import { type PgScope, pgTest, schemaUrl, stdoutLines } from "./_pg.ts";

function election(scope: PgScope, app: string, onLost?: (reason: string) => void) {
  return new LeaderElection(scope.config, {
    applicationName: app,
    pollMs: 100,
    heartbeatMs: 200,
    onLost,
  });
}

/** A child campaigning process whose JSON lines can be awaited one by one. */
class Campaigner {
  readonly child: Deno.ChildProcess;
  #lines: AsyncGenerator<string>;
  constructor(url: string) {
    const path = new URL("./_leader_child.ts", import.meta.url).pathname;
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", path, url],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#lines = stdoutLines(this.child);
  }
  /** Waits for the next line that has `key`. */
  async next(key: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      let timer!: ReturnType<typeof setTimeout>;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no "${key}" line`)), deadline - Date.now());
      });
      try {
        const r = await Promise.race([this.#lines.next(), timeout]);
        if (r.done) throw new Error(`child exited before a "${key}" line`);
        const o = JSON.parse(r.value);
        if (key in o) return o;
      } finally {
        clearTimeout(timer);
      }
    }
  }
  async end(): Promise<void> {
    try {
      this.child.kill("SIGCONT");
      this.child.kill("SIGTERM");
    } catch { /* already gone */ }
    for await (const _ of this.#lines) { /* drain */ }
    await this.child.status;
  }
}

pgTest(
  "LeaderElection: one leader at a time, the epoch grows, a stale epoch is fenced",
  async (scope) => {
    const a = election(scope, "leader a");
    const b = election(scope, "leader b");
    try {
      assert.equal(await a.waitForLeadership(), 1);
      b.start();
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(b.isLeader(), false);
      assert.equal(a.isLeader(), true);
      const stale = { name: a.name, epoch: () => 1 };
      await a.stop();
      assert.equal(await b.waitForLeadership(), 2);
      const fenced = new PostgresStateStore(scope.sql, { schema: scope.schema, fence: stale });
      await assert.rejects(fenced.recordEvent({ event: "x" }), FencedError);
      const current = new PostgresStateStore(scope.sql, { schema: scope.schema, fence: b });
      await current.recordEvent({ event: "y" });
      assert.deepEqual((await current.lastRuns()).map((e) => e.event), ["y"]);
    } finally {
      await a.stop();
      await b.stop();
    }
  },
);

pgTest(
  "LeaderElection: a leader whose session is killed reports onLost and a follower takes over",
  async (scope) => {
    const lost: string[] = [];
    const a = election(scope, "leader a", (why) => lost.push(why));
    const b = election(scope, "leader b");
    try {
      assert.equal(await a.waitForLeadership(), 1);
      b.start();
      await scope.sql`select pg_terminate_backend(pid) from pg_stat_activity
      where application_name = 'leader a' and datname = current_database()`;
      assert.equal(await b.waitForLeadership(), 2);
      while (lost.length === 0) await new Promise((r) => setTimeout(r, 50));
      assert.match(lost[0], /^session lost: /);
      assert.equal(a.isLeader(), false);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(a.isLeader(), false, "the old leader campaigns again and follows");
    } finally {
      await a.stop();
      await b.stop();
    }
  },
);

pgTest(
  "LeaderElection across processes: SIGKILL the leader, the follower takes over",
  async (scope) => {
    const a = new Campaigner(scope.url);
    let b: Campaigner | undefined;
    try {
      const first = await a.next("acquired");
      assert.equal(first.acquired, 1);
      b = new Campaigner(scope.url);
      await b.next("started");
      await new Promise((r) => setTimeout(r, 500));
      const killedAt = Date.now();
      a.child.kill("SIGKILL");
      const second = await b.next("acquired", 30_000);
      const ms = (second.at as number) - killedAt;
      console.log(`  takeover after SIGKILL: ${ms} ms (poll 100 ms)`);
      assert.equal(second.acquired, 2);
      assert.ok(ms < 5000, `took ${ms} ms`);
    } finally {
      await a.end();
      await b?.end();
    }
  },
);

pgTest(
  "LeaderElection across processes: a hung leader (SIGSTOP) is replaced and fenced on resume",
  async (scope) => {
    const url = new URL(schemaUrl(scope.schema));
    url.searchParams.set("idle_session_timeout", "2000");
    const a = new Campaigner(url.toString());
    let b: Campaigner | undefined;
    try {
      assert.equal((await a.next("acquired")).acquired, 1);
      b = new Campaigner(url.toString());
      await b.next("started");
      await new Promise((r) => setTimeout(r, 300));
      const stoppedAt = Date.now();
      a.child.kill("SIGSTOP");
      const second = await b.next("acquired", 30_000);
      const ms = (second.at as number) - stoppedAt;
      console.log(`  takeover after SIGSTOP: ${ms} ms (idle_session_timeout 2000 ms)`);
      assert.equal(second.acquired, 2);
      assert.ok(ms < 10_000, `took ${ms} ms`);
      a.child.kill("SIGCONT");
      const lost = await a.next("lost");
      assert.equal(typeof lost.lost, "string");
      assert.deepEqual(await a.next("fenced"), { fenced: true });
    } finally {
      await a.end();
      await b?.end();
    }
  },
);
