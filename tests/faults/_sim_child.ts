/**
 * One scheduler process of the five-process load test. Usage:
 * `deno run -A _sim_child.ts STATE EVENTS SEED`. Sets up, prints `ready`, waits for a line with
 * the real instant (epoch ms) at which simulated time starts, then ticks at SIM_START
 * (all processes race on that minute), every 20–120 ms of real time while the clock runs
 * at SPEED× real time, and once more at SIM_END; waits for its runs and prints a JSON
 * summary.
 */
import { seeded } from "./_fault.ts";
import { SIM_END, SIM_START, simScheduler } from "./_sim.ts";

/** Simulated ms per real ms: ten simulated minutes take ten real seconds. */
const SPEED = 60;

const [state, events, seedArg] = Deno.args;
const random = seeded(Number(seedArg));
let realStart = Number.POSITIVE_INFINITY;
const clock = {
  now(): Date {
    const sim = SIM_START.getTime() + (Date.now() - realStart) * SPEED;
    return new Date(Math.min(SIM_END.getTime(), Math.max(SIM_START.getTime(), sim)));
  },
};
const sim = await simScheduler({ state, events }, clock);
console.log("ready");
realStart = Number(await firstLine());
let ticks = 0;
let enqueued = 0;
async function tick(at: Date): Promise<void> {
  enqueued += (await sim.scheduler.tick(at)).enqueued.length;
  ticks++;
}
await new Promise((r) => setTimeout(r, Math.max(0, realStart - Date.now())));
await tick(SIM_START);
while (clock.now().getTime() < SIM_END.getTime()) {
  await tick(clock.now());
  await new Promise((r) => setTimeout(r, 20 + random() * 100));
}
await tick(SIM_END);
await sim.close();
console.log(JSON.stringify({ ticks, enqueued }));

async function firstLine(): Promise<string> {
  let text = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    if (text.includes("\n")) break;
  }
  return text.slice(0, text.indexOf("\n"));
}
