import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { sandbox } from "../helpers/cli.ts";
import { FIXTURES, schedules } from "../e2e/_sched.ts";
import { collectStderr } from "./_pg.ts";
import { netnsTest, reap, waitFor } from "./_netns.ts";

const TICK_CHILD = fromFileUrl(new URL("./_tick_child.ts", import.meta.url));

netnsTest(
  "5 scheduler processes on 5 hosts over 10 simulated minutes enqueue each schedule-minute once",
  5,
  async (scope, hosts) => {
    const start = "2026-05-01T10:00:00.000Z";
    // Deno starts in a namespace as fast as outside, but 5 at once on a busy machine
    // need a few seconds before the first simulated minute.
    const goAt = String(Date.now() + 6000);
    const children = hosts.map((h) =>
      h.spawn(TICK_CHILD, [h.storeUrl(scope.url), start, "10", goAt])
    );
    try {
      const outs = await Promise.all(children.map((c) => c.output()));
      const dec = new TextDecoder();
      const all: string[] = [];
      for (const out of outs) {
        assert.equal(out.code, 0, dec.decode(out.stderr));
        all.push(...JSON.parse(dec.decode(out.stdout)));
      }
      assert.equal(all.length, 30, "3 schedules x 10 minutes");
      assert.equal(new Set(all).size, 30, "no schedule-minute enqueued twice");
      const [{ n }] = await scope.sql<{ n: number }[]>`
        select count(*)::int as n from schedule_minutes where kind = 'enqueued'`;
      assert.equal(n, 30);
      console.log(`winners per host: ${outs.map((o) => JSON.parse(dec.decode(o.stdout)).length)}`);
    } finally {
      for (const c of children) await reap(c);
    }
  },
);

netnsTest(
  "5 scheduler --serve processes on 5 hosts: one leads; SIGKILL it and exactly one other takes over",
  5,
  async (scope, hosts) => {
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
      const errs = hosts.map((h) => {
        const child = h.orch(["scheduler", "--dir", "sched", "--serve"], {
          cwd: sb.dir,
          env: {
            ...sb.env,
            WORKFLOWS_DIR: FIXTURES,
            ORCH_STORE: h.storeUrl(scope.url),
            SCHED_TICK_MS: "200",
          },
        });
        children.push(child);
        return collectStderr(child);
      });
      const leads = (i: number) => /this scheduler leads/.test(errs[i].text());
      const leaders = () => hosts.map((_, i) => i).filter(leads);
      const logs = () => errs.map((e, i) => `host ${i}:\n${e.text()}`).join("\n");
      await waitFor(() => errs.every((e) => /campaigning/.test(e.text())), 30_000, logs);
      await waitFor(() => leaders().length > 0, 20_000, logs);
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(leaders().length, 1, logs());
      const first = leaders()[0];
      children[first].kill("SIGKILL");
      const killed = performance.now();
      await waitFor(() => leaders().length === 2, 30_000, logs);
      console.log(
        `takeover after SIGKILL of the leader: ${(performance.now() - killed).toFixed(0)} ms`,
      );
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(leaders().length, 2, `exactly one new leader:\n${logs()}`);
      const doubled = await scope.sql`
        select body->>'minute_utc' as m from state_events where event = 'schedule_enqueued'
        group by 1 having count(*) > 1`;
      assert.deepEqual([...doubled], []);
      const [{ n }] = await scope.sql<{ n: number }[]>`
        select count(*)::int as n from schedule_minutes where kind = 'enqueued'`;
      assert.ok(n >= 1, "the leaders ticked");
    } finally {
      for (const c of children) await reap(c);
      await sb.cleanup();
    }
  },
);
