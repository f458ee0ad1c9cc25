import assert from "node:assert/strict";
import type { DashboardActions, TriggerRequest } from "../../src/dashboard/mod.ts";
import { OrchestratorError } from "../../src/lib/mod.ts";
import { fixtureApp, getJson, RUN } from "./_helpers.ts";

function fakeActions() {
  const calls: (TriggerRequest | string)[] = [];
  const actions: DashboardActions = {
    triggerRun(req) {
      calls.push(req);
      if (req.dag === "nope") {
        return Promise.reject(
          new OrchestratorError('Cannot find DAG "nope"', { code: "dag_not_found" }),
        );
      }
      return Promise.resolve({ runId: "new-run" });
    },
    retryRun(runId) {
      calls.push(runId);
      return Promise.resolve({ runId: "retry-run" });
    },
  };
  return { calls, actions };
}

const post = (headers: Record<string, string> = {}, body?: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: body === undefined ? undefined : JSON.stringify(body),
});

Deno.test("POST actions answer 403 when no token is configured", async () => {
  const { calls, actions } = fakeActions();
  const { app, done } = await fixtureApp({ actions });
  try {
    for (const path of ["/api/runs", `/api/runs/${RUN.failed}/retry`]) {
      const { status, body } = await getJson(
        app,
        path,
        post({ authorization: "Bearer x" }, { dag: "etl" }),
      );
      assert.equal(status, 403, path);
      assert.equal(body.error.code, "read_only");
    }
    assert.equal(calls.length, 0);
  } finally {
    await done();
  }
});

Deno.test("POST actions answer 401 on a missing or wrong token", async (t) => {
  const { calls, actions } = fakeActions();
  const { app, done } = await fixtureApp({ actions, token: "s3cret" });
  try {
    for (const header of [undefined, "Bearer wrong", "Bearer s3cret2", "Basic s3cret", "s3cret"]) {
      await t.step(String(header), async () => {
        const headers: Record<string, string> = header ? { authorization: header } : {};
        const { status } = await getJson(
          app,
          "/api/runs",
          post(headers, { dag: "etl" }),
        );
        assert.equal(status, 401);
      });
    }
    assert.equal(calls.length, 0);
  } finally {
    await done();
  }
});

Deno.test("POST actions call the injected actions with the right token", async (t) => {
  const { calls, actions } = fakeActions();
  const { app, done } = await fixtureApp({ actions, token: "s3cret" });
  const auth = { authorization: "Bearer s3cret" };
  try {
    await t.step("trigger", async () => {
      const { status, body } = await getJson(
        app,
        "/api/runs",
        post(auth, { dag: "etl", params: { a: 1 } }),
      );
      assert.equal(status, 202);
      assert.deepEqual(body, { run_id: "new-run" });
      assert.deepEqual(calls.at(-1), { dag: "etl", params: { a: 1 } });
    });
    await t.step("retry", async () => {
      const res = await getJson(app, `/api/runs/${RUN.failed}/retry`, post(auth));
      assert.equal(res.status, 202);
      assert.deepEqual(res.body, { run_id: "retry-run", retry_of: RUN.failed });
      assert.equal(calls.at(-1), RUN.failed);
    });
    await t.step("retry of an unknown run is a 404", async () => {
      const { status } = await getJson(app, "/api/runs/nope/retry", post(auth));
      assert.equal(status, 404);
    });
    await t.step("a body without dag is a 400", async () => {
      const { status, body } = await getJson(app, "/api/runs", post(auth, { params: {} }));
      assert.equal(status, 400);
      assert.equal(body.error.code, "bad_body");
    });
    await t.step("an input error of the engine is a 400 with its message", async () => {
      const { status, body } = await getJson(app, "/api/runs", post(auth, { dag: "nope" }));
      assert.equal(status, 400);
      assert.equal(body.error.message, 'Cannot find DAG "nope"');
    });
    await t.step("/api/info says actions are enabled", async () => {
      const { body } = await getJson(app, "/api/info");
      assert.equal(body.read_only, false);
      assert.equal(body.actions, true);
    });
  } finally {
    await done();
  }
});

Deno.test("POST actions answer 501 when a token is set but no engine is wired", async () => {
  const { app, done } = await fixtureApp({ token: "s3cret" });
  try {
    const { status } = await getJson(
      app,
      "/api/runs",
      post({ authorization: "Bearer s3cret" }, { dag: "etl" }),
    );
    assert.equal(status, 501);
  } finally {
    await done();
  }
});

Deno.test("Other write methods answer 405", async () => {
  const { app, done } = await fixtureApp({ token: "s3cret" });
  try {
    assert.equal((await getJson(app, "/api/runs", { method: "DELETE" })).status, 405);
    assert.equal((await getJson(app, "/api/schedules", { method: "POST" })).status, 405);
  } finally {
    await done();
  }
});
