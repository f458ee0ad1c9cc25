import assert from "node:assert/strict";
import { etlEvent, fixtureApp, readUntil, RUN } from "./_helpers.ts";

Deno.test("GET /api/events streams a runs event when a line is appended", async () => {
  const { app, fx, done } = await fixtureApp({ pollIntervalMs: 20 });
  const res = await app.fetch(new Request("http://x/api/events"));
  assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  try {
    await readUntil(reader, /: connected\n\n/);
    await fx.appendEvents(
      etlEvent(RUN.running, "task_ok", {
        task_id: "extract",
        attempt: 1,
        duration_s: 1,
        output: {},
      }),
    );
    const text = await readUntil(reader, /event: runs\ndata: .*\n\n/);
    const data = JSON.parse(/event: runs\ndata: (.*)\n/.exec(text)![1]);
    assert.equal(data.runs[0].run_id, RUN.running);
    assert.equal(data.runs[0].tasks.success, 1);
    assert.deepEqual(data.events.map((e: { event: string }) => e.event), ["task_ok"]);
  } finally {
    await reader.cancel();
    await done();
  }
});

Deno.test("GET /api/events sends reload when the log is truncated", async () => {
  const { app, fx, done } = await fixtureApp({ pollIntervalMs: 20 });
  const reader = (await app.fetch(new Request("http://x/api/events"))).body!
    .pipeThrough(new TextDecoderStream()).getReader();
  try {
    await readUntil(reader, /: connected/);
    await Deno.writeTextFile(fx.eventsPath, "");
    await readUntil(reader, /event: reload\ndata: \{"reset":true\}/);
  } finally {
    await reader.cancel();
    await done();
  }
});

Deno.test("Dashboard.close() ends open SSE streams", async () => {
  const { app, done } = await fixtureApp({ pollIntervalMs: 20 });
  const reader = (await app.fetch(new Request("http://x/api/events"))).body!
    .pipeThrough(new TextDecoderStream()).getReader();
  await readUntil(reader, /: connected/);
  await app.close();
  let ended = false;
  while (!ended) ended = (await reader.read()).done;
  assert.equal(ended, true);
  const after = await app.fetch(new Request("http://x/api/events"));
  assert.equal(after.status, 503);
  await after.body?.cancel();
  await done();
});
