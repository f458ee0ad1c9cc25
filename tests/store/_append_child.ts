// Child process for the concurrency test: appends N events to the state file.
import { StateStore } from "../../src/store/mod.ts";

const [path, writer, count] = Deno.args;
const store = new StateStore(path);
const pad = "x".repeat(200);
for (let i = 0; i < Number(count); i++) {
  await store.recordEvent({ event: "run_started", writer, seq: i, pad });
}
