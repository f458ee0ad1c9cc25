import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { Cron } from "croner";
import { sandbox } from "../helpers/cli.ts";
import { FIXTURES, schedules } from "../e2e/_sched.ts";
import { collectStderr } from "./_pg.ts";
import { jsonLines, netnsTest, reap, waitFor } from "./_netns.ts";

const MINUTE = 60_000;

/** Croner's fire times of `* * * * *` from the minute of `from` to `to`, ISO. */
function everyMinute(from: Date, to: Date): string[] {
  const out: string[] = [];
  const cron = new Cron("* * * * *", { timezone: "UTC", paused: true });
  let at = cron.nextRun(new Date(Math.floor(from.getTime() / MINUTE) * MINUTE - 1));
  while (at && at.getTime() <= to.getTime()) {
    out.push(at.toISOString());
    at = cron.nextRun(at);
  }
  return out;
}

netnsTest(
  "scheduler --serve leader on host A cut off: B takes over within 30 s; A does not lead again when its link returns; each minute once",
  2,
  async (scope, [a, b]) => {
    const sb = await sandbox();
    const children: Deno.ChildProcess[] = [];
    try {
      await sb.write(
        "dags/quick.yaml",
        JSON.stringify({
          name: "quick",
          tenant_id: "t",
          tasks: [{ id: "w", workflow_ref: "sleep", params: { ms: 10 } }],
        }),
      );
      await schedules(sb, [{ id: "q", cron: "* * * * *", dag: "dags/quick.yaml" }]);
      const start = new Date();
      const serve = (host: typeof a) => {
        const child = host.orch(["scheduler", "--dir", "sched", "--serve"], {
          cwd: sb.dir,
          env: {
            ...sb.env,
            WORKFLOWS_DIR: FIXTURES,
            ORCH_STORE: host.storeUrl(scope.url),
            SCHED_TICK_MS: "200",
            // The leadership holder names the serving process's pid: no supervisor.
            ORCH_SERVE_SUPERVISOR: "0",
          },
        });
        children.push(child);
        return collectStderr(child);
      };
      const leads = /this scheduler leads/g;
      const count = (text: string, re: RegExp) => text.match(re)?.length ?? 0;
      const errA = serve(a);
      await waitFor(
        () => count(errA.text(), leads) === 1,
        20_000,
        () => `A leads:\n${errA.text()}`,
      );
      await waitFor(
        () => /enqueued q /.test(errA.text()),
        20_000,
        () => `A ticks:\n${errA.text()}`,
      );
      const errB = serve(b);
      await waitFor(() => /campaigning/.test(errB.text()), 20_000, () => `B:\n${errB.text()}`);

      await a.cut();
      const cut = performance.now();
      await waitFor(
        () => count(errB.text(), leads) === 1,
        30_000,
        () => `B takes over:\n${errB.text()}`,
      );
      const takeoverMs = performance.now() - cut;
      console.log(`takeover after cutting the leader's link: ${takeoverMs.toFixed(0)} ms`);
      assert.ok(takeoverMs < 30_000);
      await waitFor(() => /leadership lost/.test(errA.text()), 10_000, () => `A:\n${errA.text()}`);

      await a.restore();
      // A reconnects, campaigns and stays follower while B leads and ticks.
      await new Promise((r) => setTimeout(r, 3000));
      const end = new Date();
      await new Promise((r) => setTimeout(r, 600)); // B ticks the minute of `end`, if new
      assert.equal(count(errA.text(), leads), 1, `A led again:\n${errA.text()}`);
      assert.equal(count(errB.text(), leads), 1, `B lost its leadership:\n${errB.text()}`);
      assert.doesNotMatch(errB.text(), /tick failed/);
      const [holder] = await scope.sql<{ epoch: string; holder: string }[]>`
        select epoch, holder from leader where name = 'scheduler'`;
      assert.ok(Number(holder.epoch) >= 2, "B holds a newer epoch");
      assert.ok(holder.holder.endsWith(`:${children[1].pid}`), holder.holder);

      const minutes = await scope.sql<{ m: Date }[]>`
        select minute_utc as m from schedule_minutes where kind = 'enqueued' order by minute_utc`;
      const recorded = minutes.map((r) => r.m.toISOString());
      // From A's first tick (the minute it started in, or the next if it started late in a
      // minute) to the end, every fire time once: none lost or doubled across the hand-over.
      assert.ok(recorded.length > 0 && Date.parse(recorded[0]) >= start.getTime() - MINUTE);
      assert.deepEqual(
        recorded.filter((m) => Date.parse(m) <= end.getTime()),
        everyMinute(new Date(recorded[0]), end),
        `A:\n${errA.text()}\nB:\n${errB.text()}`,
      );
      const doubled = await scope.sql`
        select schedule_id, body->>'minute_utc' as m, count(*) from state_events
        where event = 'schedule_enqueued' group by 1, 2 having count(*) > 1`;
      assert.deepEqual([...doubled], [], "no schedule-minute enqueued twice");
      console.log(`A's ticks refused by the fence: ${count(errA.text(), /tick refused/g)}`);
    } finally {
      for (const c of children) await reap(c);
      await sb.cleanup();
    }
  },
);

const STALE = fromFileUrl(new URL("./_netns_stale_child.ts", import.meta.url));
const FOLLOWER = fromFileUrl(new URL("./_leader_child.ts", import.meta.url));

netnsTest(
  "a leader whose link was cut keeps writing with its old epoch: every write after the new leader took over is fenced",
  2,
  async (scope, [a, b]) => {
    const stale = a.spawn(STALE, [a.storeUrl(scope.url)]);
    const staleOut = jsonLines(stale);
    let follower: Deno.ChildProcess | null = null;
    try {
      await waitFor(() => staleOut.lines.some((l) => "acquired" in l), 20_000, staleOut.stderr);
      await waitFor(
        () => staleOut.lines.some((l) => l.result === "ok"),
        20_000,
        () => `A writes:\n${staleOut.stderr()}`,
      );
      follower = b.spawn(FOLLOWER, [b.storeUrl(scope.url)]);
      const followerOut = jsonLines(follower);
      await waitFor(
        () => followerOut.lines.some((l) => "started" in l),
        20_000,
        followerOut.stderr,
      );
      await new Promise((r) => setTimeout(r, 300)); // B is polling the lock

      await a.cut();
      const cutAt = Date.now();
      await waitFor(() => followerOut.lines.some((l) => "acquired" in l), 30_000, "B leads");
      const acquired = followerOut.lines.find((l) => "acquired" in l)!;
      console.log(`B leads ${Number(acquired.at) - cutAt} ms after A's link was cut`);
      await a.restore();
      await waitFor(
        () => staleOut.lines.some((l) => l.result === "fenced"),
        20_000,
        () => `A's stale writes refused: ${JSON.stringify(staleOut.lines.slice(-5))}`,
      );
      const writes = staleOut.lines.filter((l) => "write" in l);
      const late = writes.filter((l) => l.result === "ok" && Number(l.at) > Number(acquired.at));
      assert.deepEqual(late, [], "no write of the old epoch succeeded after the hand-over");
      // The database agrees: every stored write of the old epoch predates the new leader.
      const [lead] = await scope.sql<{ epoch: string; acquired: Date }[]>`
        select epoch, acquired from leader where name = 'scheduler'`;
      assert.equal(Number(lead.epoch), Number(acquired.acquired));
      const stored = await scope.sql<{ n: number; last: Date | null }[]>`
        select count(*)::int as n, max(ts) as last from state_events where event = 'leader_write'`;
      assert.ok(stored[0].n >= 1);
      assert.ok(stored[0].last! <= lead.acquired, `${stored[0].last} vs ${lead.acquired}`);
      console.log(
        `A's writes: ${writes.filter((l) => l.result === "ok").length} ok before the cut, ` +
          `${writes.filter((l) => l.result === "fenced").length} fenced, ` +
          `${writes.filter((l) => l.result === "error").length} failed on the dead connection`,
      );
    } finally {
      await reap(stale);
      if (follower) await reap(follower);
    }
  },
);
