import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import {
  cronProblem,
  loadSchedules,
  type Schedule,
  ScheduleValidationError,
} from "../../src/schedule/mod.ts";
import {
  bounded,
  decodedBytes,
  EDGE_NUMBERS,
  fuzzParams,
  textMutation,
  toYaml,
  TRAVERSAL,
  yamlValue,
} from "./_fuzz.ts";
import { validateDag } from "../helpers/validate_dag.ts";

/** One temp project with a valid and an invalid DAG; each case rewrites `schedules/a.yaml`. */
async function withProject(fn: (load: (text: string) => Promise<string>) => Promise<void>) {
  const cwd = await Deno.makeTempDir({ prefix: "orch_fuzz_sched_" });
  try {
    await Deno.mkdir(join(cwd, "schedules"));
    await Deno.mkdir(join(cwd, "dags"));
    await Deno.writeTextFile(
      join(cwd, "dags", "ok.yaml"),
      "name: ok\ntasks:\n  - {id: a, workflow_ref: echo}\n",
    );
    await Deno.writeTextFile(join(cwd, "dags", "bad.yaml"), "name: bad\n");
    const file = join(cwd, "schedules", "a.yaml");
    await fn(async (text) => {
      await Deno.writeTextFile(file, text);
      return await bounded("loadSchedules", () => check(join(cwd, "schedules"), cwd));
    });
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
}

/**
 * The property: only ScheduleValidationError escapes, every issue has a line:column or a
 * field, and every accepted schedule has a unique id, a valid cron and an existing DAG.
 */
async function check(dir: string, cwd: string): Promise<"rejected" | "accepted"> {
  let schedules: Schedule[];
  try {
    schedules = await loadSchedules(dir, { cwd, localTimezone: "UTC", validateDag });
  } catch (err) {
    if (!(err instanceof ScheduleValidationError)) throw err;
    assert.ok(err.issues.length > 0);
    for (const issue of err.issues) {
      assert.ok(issue.line >= 1 || issue.path !== "", `unlocated: ${JSON.stringify(issue)}`);
    }
    assert.doesNotMatch(err.message, /^\s+at /m, "stack frames in the message");
    return "rejected";
  }
  assert.equal(new Set(schedules.map((s) => s.id)).size, schedules.length, "duplicate ids");
  for (const s of schedules) {
    assert.equal(cronProblem(s.cron), null);
    assert.ok(s.dagPath.startsWith(cwd + "/dags/ok.yaml"), `accepted DAG ${s.dagPath}`);
    assert.ok(s.catchupWindowMs === null || Number.isSafeInteger(s.catchupWindowMs));
  }
  return "accepted";
}

const CRONS = ["* * * * *", "0 2 * * *", "*/5 1-3 * * MON", "61 * * * *", "* * * *", "@daily", ""];
const ZONES = ["UTC", "Europe/Berlin", "Mars/Olympus", "../../etc/localtime", "", " "];
const DAGS = ["dags/ok.yaml", "dags/bad.yaml", "dags/missing.yaml", "dags", ...TRAVERSAL];
const WINDOWS = ["30m", "1h30m", "0m", "2 hours", "9".repeat(30) + "d", "-1h", ""];

/** A valid schedule file: one to four entries with distinct ids. */
const validEntries = fc.uniqueArray(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,10}$/), {
  minLength: 1,
  maxLength: 4,
}).chain((ids) =>
  fc.tuple(...ids.map((id) =>
    fc.record({
      id: fc.constant<unknown>(id),
      cron: fc.constantFrom<unknown>(...CRONS.slice(0, 3)),
      dag: fc.constant<unknown>("dags/ok.yaml"),
      tenant: fc.string({ minLength: 1, maxLength: 8 }) as fc.Arbitrary<unknown>,
      timezone: fc.option(fc.constantFrom<unknown>(...ZONES.slice(0, 2)), { nil: undefined }),
      catchup_window: fc.option(fc.constantFrom<unknown>(...WINDOWS.slice(0, 2)), {
        nil: undefined,
      }),
      overlap: fc.option(fc.constantFrom<unknown>("skip", "allow"), { nil: undefined }),
      params: fc.option(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }), {
        nil: undefined,
      }),
    }, { requiredKeys: ["id", "cron", "dag", "tenant"] })
  ))
);

type Entry = Record<string, unknown>;
type Mutation = (entries: Entry[]) => void;
const KEYS = ["id", "cron", "dag", "tenant", "enabled", "timezone", "params", "overlap"];

/** Structural damage to valid entries. */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.constantFrom(...KEYS)).map(([n, key]): Mutation => (e) => {
    delete e[n % e.length][key];
  }),
  fc.tuple(fc.nat(), fc.constantFrom(...KEYS), fc.string({ maxLength: 2 })).map(
    ([n, key, extra]): Mutation => (e) => {
      const entry = e[n % e.length];
      entry[key + "x" + extra] = entry[key];
      delete entry[key];
    },
  ),
  fc.tuple(fc.nat(), fc.constantFrom(...KEYS, "catchup_window"), yamlValue).map(
    ([n, key, value]): Mutation => (e) => {
      e[n % e.length][key] = value;
    },
  ),
  fc.tuple(fc.nat(), fc.constantFrom(...CRONS)).map(([n, cron]): Mutation => (e) => {
    e[n % e.length].cron = cron;
  }),
  fc.tuple(fc.nat(), fc.constantFrom(...ZONES)).map(([n, zone]): Mutation => (e) => {
    e[n % e.length].timezone = zone;
  }),
  fc.tuple(fc.nat(), fc.constantFrom(...DAGS)).map(([n, dag]): Mutation => (e) => {
    e[n % e.length].dag = dag;
  }),
  fc.tuple(fc.nat(), fc.constantFrom<unknown>(...WINDOWS, ...EDGE_NUMBERS)).map(
    ([n, w]): Mutation => (e) => {
      e[n % e.length].catchup_window = w;
    },
  ),
  fc.nat().map((n): Mutation => (e) => {
    e.push(structuredClone(e[n % e.length]));
  }),
  fc.tuple(fc.nat(), fc.string({ unit: "grapheme", minLength: 1 })).map(
    ([n, id]): Mutation => (e) => {
      e[n % e.length].id = id;
    },
  ),
);

Deno.test("loadSchedules(): valid schedule files load", async () => {
  await withProject(async (load) => {
    await fc.assert(
      fc.asyncProperty(validEntries, async (entries) => {
        assert.equal(await load(toYaml(entries)), "accepted");
      }),
      fuzzParams(200),
    );
  });
});

Deno.test("loadSchedules(): random YAML, text and bytes load or are rejected with located issues", async () => {
  const input = fc.oneof(
    yamlValue.map(toYaml),
    fc.array(yamlValue, { maxLength: 4 }).map(toYaml),
    fc.string({ unit: "binary", maxLength: 400 }),
    decodedBytes,
  );
  await withProject(async (load) => {
    await fc.assert(fc.asyncProperty(input, async (text) => void await load(text)), fuzzParams());
  });
});

Deno.test("loadSchedules(): mutated schedule files load or are rejected cleanly", async () => {
  const outcomes = { rejected: 0, accepted: 0 };
  const damaged = fc.tuple(
    validEntries,
    fc.array(mutation, { minLength: 1, maxLength: 3 }),
    fc.option(textMutation, { freq: 3 }),
  );
  await withProject(async (load) => {
    await fc.assert(
      fc.asyncProperty(damaged, async ([entries, mutations, damageText]) => {
        const copy = structuredClone(entries) as Entry[];
        for (const m of mutations) m(copy);
        const text = damageText ? damageText(toYaml(copy)) : toYaml(copy);
        outcomes[await load(text) as keyof typeof outcomes]++;
      }),
      fuzzParams(),
    );
  });
  for (const [outcome, n] of Object.entries(outcomes)) assert.ok(n > 0, `no ${outcome} case`);
});
