import assert from "node:assert/strict";
import { Cron } from "croner";
import { type DueSchedule, dueTicks, localMinute, MAX_CATCHUP } from "../../src/schedule/mod.ts";
import { fireAfter } from "../../src/schedule/due.ts";
import { floorMinute } from "../../src/schedule/_time.ts";

const MIN = 60_000;
const utc = (iso: string) => new Date(iso);
const iso = (d: Date) => d.toISOString();

function schedule(
  cron: string,
  timezone = "UTC",
  catchupWindowMs: number | null = null,
): DueSchedule {
  return { cron, timezone, catchupWindowMs };
}

/** Runs one tick a minute from `from` (inclusive) to `to` (exclusive), moving the watermark. */
function simulate(s: DueSchedule, from: string, to: string): { utc: string; local: string }[] {
  const fired: { utc: string; local: string }[] = [];
  let lastTick: Date | null = null;
  for (let t = Date.parse(from); t < Date.parse(to); t += MIN) {
    const now = new Date(t + 17_000);
    for (const f of dueTicks(s, lastTick, now).due) {
      fired.push({ utc: f.minuteUtc, local: f.minute });
    }
    lastTick = new Date(t);
  }
  return fired;
}

Deno.test("dueTicks() returns the current minute when the cron matches it", async (t) => {
  const cases: [string, string, string, boolean][] = [
    ["*/5 * * * *", "UTC", "2026-05-01T10:05:42Z", true],
    ["*/5 * * * *", "UTC", "2026-05-01T10:06:00Z", false],
    ["0 9 * * *", "Europe/Berlin", "2026-05-01T07:00:30Z", true],
    ["0 9 * * *", "Europe/Berlin", "2026-05-01T09:00:30Z", false],
    ["0 9 * * *", "America/New_York", "2026-01-15T14:00:00Z", true],
    ["0 9 * * 1", "Asia/Tokyo", "2026-05-04T00:00:59Z", true],
    ["0 9 * * 1", "Asia/Tokyo", "2026-05-05T00:00:59Z", false],
    ["@daily", "UTC", "2026-05-01T00:00:10Z", true],
  ];
  for (const [cron, tz, now, matches] of cases) {
    await t.step(`${cron} in ${tz} at ${now}`, () => {
      const { due, skipped } = dueTicks(schedule(cron, tz), null, utc(now));
      assert.equal(due.length, matches ? 1 : 0);
      assert.deepEqual(skipped, []);
      if (matches) {
        assert.equal(due[0].minuteUtc, iso(new Date(Math.floor(Date.parse(now) / MIN) * MIN)));
        assert.equal(due[0].catchup, false);
      }
    });
  }
});

Deno.test("dueTicks() gives the local minute in the schedule's time zone", () => {
  const [f] = dueTicks(schedule("0 9 * * *", "Europe/Berlin"), null, utc("2026-05-01T07:00:00Z"))
    .due;
  assert.equal(f.minute, "2026-05-01T09:00");
  assert.equal(f.minuteUtc, "2026-05-01T07:00:00.000Z");
});

Deno.test("dueTicks() returns nothing for a minute already handled", () => {
  const now = utc("2026-05-01T10:05:30Z");
  assert.deepEqual(dueTicks(schedule("* * * * *"), utc("2026-05-01T10:05:00Z"), now).due, []);
});

Deno.test("dueTicks() covers the minutes since the watermark of a late tick, bounded", () => {
  const s = schedule("* * * * *");
  const { due } = dueTicks(s, utc("2026-05-01T10:00:00Z"), utc("2026-05-01T10:03:10Z"));
  assert.deepEqual(due.map((f) => f.minute), [
    "2026-05-01T10:01",
    "2026-05-01T10:02",
    "2026-05-01T10:03",
  ]);
  assert.deepEqual(due.map((f) => f.catchup), [true, true, false]);
  const long = dueTicks(s, utc("2026-05-01T08:00:00Z"), utc("2026-05-01T10:00:00Z"));
  assert.deepEqual(long.due.map((f) => f.minute.slice(11)), [
    "09:56",
    "09:57",
    "09:58",
    "09:59",
    "10:00",
  ]);
});

Deno.test("dueTicks() does not catch up after downtime without catchup_window", () => {
  const s = schedule("0 * * * *");
  const { due } = dueTicks(s, utc("2026-05-01T02:00:00Z"), utc("2026-05-01T10:30:00Z"));
  assert.deepEqual(due, []);
});

Deno.test("dueTicks() catches up missed fire times within the window, oldest first", () => {
  const s = schedule("0 * * * *", "UTC", 3 * 60 * MIN);
  const { due, skipped } = dueTicks(s, utc("2026-05-01T02:00:00Z"), utc("2026-05-01T10:00:20Z"));
  assert.deepEqual(due.map((f) => [f.minute.slice(11), f.catchup]), [
    ["08:00", true],
    ["09:00", true],
    ["10:00", false],
  ]);
  assert.deepEqual(skipped, []);
});

Deno.test("dueTicks() caps catch-up and reports the rest as skipped", () => {
  const s = schedule("*/5 * * * *", "UTC", 24 * 60 * MIN);
  const { due, skipped } = dueTicks(s, utc("2026-05-01T08:00:00Z"), utc("2026-05-01T10:00:00Z"));
  assert.equal(due.length, MAX_CATCHUP + 1);
  assert.equal(due[0].minute, "2026-05-01T08:05");
  assert.equal(due[MAX_CATCHUP - 1].minute, "2026-05-01T08:50");
  assert.equal(due[MAX_CATCHUP].minute, "2026-05-01T10:00");
  assert.equal(skipped.length, 23 - MAX_CATCHUP);
  assert.equal(skipped[0].minute, "2026-05-01T08:55");
  assert.equal(skipped.at(-1)?.minute, "2026-05-01T09:55");
});

Deno.test("dueTicks() fires every day over a week of minute ticks", () => {
  const fired = simulate(
    schedule("30 6 * * *", "Europe/Berlin"),
    "2026-05-01T00:00:00Z",
    "2026-05-08T00:00:00Z",
  );
  assert.equal(fired.length, 7);
  assert.ok(fired.every((f) => f.local.endsWith("T06:30") && f.utc.endsWith("T04:30:00.000Z")));
});

const dstCases: [string, string, string, string, string, { utc: string; local: string }[]][] = [
  // [title, cron, zone, from, to, fired]
  [
    "skipped hour, America/New_York: a fixed-time job at 02:30 fires once at 03:00 EDT",
    "30 2 * * *",
    "America/New_York",
    "2026-03-08T05:00:00Z",
    "2026-03-08T09:00:00Z",
    [{ utc: "2026-03-08T07:00:00.000Z", local: "2026-03-08T03:00" }],
  ],
  [
    "skipped hour, Europe/Berlin: a fixed-time job at 02:30 fires once at 03:00 CEST",
    "30 2 * * *",
    "Europe/Berlin",
    "2026-03-28T23:00:00Z",
    "2026-03-29T03:00:00Z",
    [{ utc: "2026-03-29T01:00:00.000Z", local: "2026-03-29T03:00" }],
  ],
  [
    "repeated hour, America/New_York: a fixed-time job at 01:30 fires once, at the first 01:30",
    "30 1 * * *",
    "America/New_York",
    "2026-11-01T04:00:00Z",
    "2026-11-01T08:00:00Z",
    [{ utc: "2026-11-01T05:30:00.000Z", local: "2026-11-01T01:30" }],
  ],
  [
    "repeated hour, Europe/Berlin: a fixed-time job at 02:30 fires once, at the first 02:30",
    "30 2 * * *",
    "Europe/Berlin",
    "2026-10-24T23:00:00Z",
    "2026-10-25T04:00:00Z",
    [{ utc: "2026-10-25T00:30:00.000Z", local: "2026-10-25T02:30" }],
  ],
  [
    "skipped hour, America/New_York: an interval job skips the missing minutes",
    "*/30 * * * *",
    "America/New_York",
    "2026-03-08T06:00:00Z",
    "2026-03-08T08:00:00Z",
    ["06:00/01:00", "06:30/01:30", "07:00/03:00", "07:30/03:30"].map(dstFire("2026-03-08")),
  ],
  [
    "repeated hour, America/New_York: an interval job fires at both instants of 01:30",
    "30 * * * *",
    "America/New_York",
    "2026-11-01T04:00:00Z",
    "2026-11-01T08:00:00Z",
    ["04:30/00:30", "05:30/01:30", "06:30/01:30", "07:30/02:30"].map(dstFire("2026-11-01")),
  ],
  [
    "repeated hour, Europe/Berlin: an interval job fires at both instants of 02:15",
    "15 * * * *",
    "Europe/Berlin",
    "2026-10-24T23:30:00Z",
    "2026-10-25T01:30:00Z",
    ["00:15/02:15", "01:15/02:15"].map(dstFire("2026-10-25")),
  ],
];

function dstFire(day: string): (pair: string) => { utc: string; local: string } {
  return (pair) => ({
    utc: `${day}T${pair.slice(0, 5)}:00.000Z`,
    local: `${day}T${pair.slice(6)}`,
  });
}

Deno.test("dueTicks() across DST transitions follows croner's rules", async (t) => {
  for (const [title, cron, zone, from, to, fired] of dstCases) {
    await t.step(title, () => {
      assert.deepEqual(simulate(schedule(cron, zone), from, to), fired);
    });
  }
});

Deno.test("fireAfter() and localMinute() give UTC schedules the same times as croner's zone path", () => {
  const crons = [
    "* * * * *",
    "*/7 * * * *",
    "30 2 * * *",
    "0 0 29 2 *",
    "15 3 * * 1-5",
    "0 */6 1,15 * *",
    "59 23 31 12 *",
    "0 12 * * 0",
    "5 4 L * *",
  ];
  // "Etc/GMT" is UTC too, but not taken for it by name: it goes through Intl.
  const viaIntl = (at: Date) => localMinute(at, "Etc/GMT");
  for (const cron of crons) {
    for (const timezone of ["UTC", "Etc/UTC"]) {
      const zoned = new Cron(cron, { timezone, paused: true, mode: "5-part" });
      let at: Date | null = new Date("2026-01-01T00:00:30Z");
      for (let i = 0; i < 200 && at; i++) {
        const expected = zoned.nextRun(floorMinute(at));
        const got = fireAfter({ cron, timezone }, at);
        assert.equal(
          got?.toISOString(),
          expected?.toISOString(),
          `${cron} after ${at.toISOString()}`,
        );
        if (got) assert.equal(localMinute(got, timezone), viaIntl(got));
        at = got;
      }
    }
  }
});
