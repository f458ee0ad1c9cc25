import assert from "node:assert/strict";
import fc from "fast-check";
import {
  CycleDetectedError,
  type Dag,
  DagValidationError,
  NAME_PATTERN,
  parseDag,
  TASK_KEYS,
} from "../../src/dag/mod.ts";
import { buildPlan } from "../../src/plan/mod.ts";
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

type Outcome = "rejected" | "cycle" | "planned";

/**
 * The property every input must satisfy: only DagValidationError or CycleDetectedError
 * escape, every rejection is located, and every accepted DAG plans in dependency order.
 */
function check(source: string): Outcome {
  let dag: Dag;
  try {
    dag = parseDag(source, "f.yaml");
  } catch (err) {
    assertLocatedRejection(err);
    return "rejected";
  }
  for (const t of dag.tasks) {
    assert.match(t.id, NAME_PATTERN);
    assert.match(t.workflowRef, NAME_PATTERN, "a path or URL was accepted as workflow_ref");
  }
  try {
    assertPlanRespectsDependencies(dag, buildPlan(dag));
    return "planned";
  } catch (err) {
    if (!(err instanceof CycleDetectedError)) throw err;
    assertRealCycle(dag, err.cycle);
    return "cycle";
  }
}

function assertLocatedRejection(err: unknown): void {
  if (!(err instanceof DagValidationError)) throw err;
  assert.ok(err.issues.length > 0);
  for (const issue of err.issues) {
    const located = (issue.line ?? 0) >= 1 || issue.path !== "" ||
      /name and tasks/.test(issue.message);
    assert.ok(located, `issue names no field or line: ${JSON.stringify(issue)}`);
  }
  assert.doesNotMatch(err.message, /^\s+at /m, "stack frames in the message");
}

function assertPlanRespectsDependencies(dag: Dag, plan: ReturnType<typeof buildPlan>): void {
  assert.equal(plan.order.length, dag.tasks.length);
  const position = new Map(plan.order.map((taskIndex, k) => [dag.tasks[taskIndex].id, k]));
  assert.equal(position.size, dag.tasks.length, "plan lists a task twice");
  for (const t of dag.tasks) {
    for (const dep of t.dependsOn) {
      assert.ok(position.get(dep)! < position.get(t.id)!, `"${t.id}" planned before "${dep}"`);
    }
  }
}

function assertRealCycle(dag: Dag, cycle: readonly string[]): void {
  assert.ok(cycle.length >= 3 && cycle[0] === cycle.at(-1), `not a cycle: ${cycle}`);
  const byId = new Map(dag.tasks.map((t) => [t.id, t]));
  for (let i = 0; i + 1 < cycle.length; i++) {
    // `a -> b`: b depends on a.
    assert.ok(byId.get(cycle[i + 1])!.dependsOn.includes(cycle[i]), `no edge ${cycle[i]} -> b`);
  }
}

const taskId = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_-]{0,11}$/);

/** A valid DAG as a plain object; dependencies point at earlier tasks, so it is acyclic. */
const validDag = fc.uniqueArray(taskId, { minLength: 1, maxLength: 12 }).chain((ids) =>
  fc.record({
    name: fc.string({ minLength: 1, maxLength: 20 }),
    tenant_id: fc.option(fc.string({ minLength: 1, maxLength: 10 }), { nil: undefined }),
    tasks: fc.tuple(
      ...ids.map((id, i) =>
        fc.record({
          id: fc.constant(id),
          workflow_ref: taskId,
          params: fc.option(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }), {
            nil: undefined,
          }),
          retries: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
          retry_delay_s: fc.option(fc.double({ min: 0, max: 86_400, noNaN: true }), {
            nil: undefined,
          }),
          timeout_s: fc.option(fc.double({ min: 0.001, max: 2_000_000, noNaN: true }), {
            nil: undefined,
          }),
          depends_on: fc.subarray(ids.slice(0, i)),
        }, { requiredKeys: ["id", "workflow_ref", "depends_on"] })
      ),
    ),
  }, { requiredKeys: ["name", "tasks"] })
).chain((dag) =>
  fc.shuffledSubarray(dag.tasks, { minLength: dag.tasks.length }).map((tasks) => ({
    ...dag,
    tasks,
  }))
);

type Obj = Record<string, unknown>;
type Mutation = (dag: Obj) => void;

const TASK_FIELDS = [...TASK_KEYS];

/** Task `n` (modulo the count), or a scratch object once `tasks` is no list of maps. */
function taskAt(d: Obj, n: number): Obj {
  const tasks = Array.isArray(d.tasks) ? d.tasks : [];
  const t = tasks[n % (tasks.length || 1)];
  return t !== null && typeof t === "object" && !Array.isArray(t) ? t as Obj : {};
}

function nest(value: unknown, depth: number): unknown {
  let v = value;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { k: v };
  return v;
}

/** Structural damage to a valid DAG object. */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.constantFrom(...TASK_FIELDS)).map(([n, key]): Mutation => (d) => {
    delete taskAt(d, n)[key];
  }),
  fc.constantFrom("name", "tasks", "tenant_id").map((key): Mutation => (d) => delete d[key]),
  fc.tuple(fc.nat(), fc.constantFrom(...TASK_FIELDS), fc.string({ maxLength: 3 })).map(
    ([n, key, extra]): Mutation => (d) => {
      const t = taskAt(d, n);
      t[key.toUpperCase() + extra] = t[key];
      delete t[key];
    },
  ),
  fc.tuple(fc.nat(), fc.constantFrom(...TASK_FIELDS), yamlValue).map(
    ([n, key, value]): Mutation => (d) => {
      taskAt(d, n)[key] = value;
    },
  ),
  fc.tuple(fc.constantFrom("name", "tasks", "tenant_id", "extra"), yamlValue).map(
    ([key, value]): Mutation => (d) => {
      d[key] = value;
    },
  ),
  fc.tuple(fc.nat(), fc.constantFrom(...TRAVERSAL)).map(([n, ref]): Mutation => (d) => {
    taskAt(d, n).workflow_ref = ref;
  }),
  fc.tuple(
    fc.nat(),
    fc.constantFrom("retries", "retry_delay_s", "timeout_s"),
    fc.constantFrom(...EDGE_NUMBERS),
  )
    .map(([n, key, value]): Mutation => (d) => {
      taskAt(d, n)[key] = value;
    }),
  fc.tuple(fc.nat(), fc.string({ unit: "grapheme", minLength: 1 })).map(
    ([n, id]): Mutation => (d) => {
      taskAt(d, n).id = id;
    },
  ),
  fc.tuple(fc.nat(), fc.nat({ max: 600 })).map(([n, depth]): Mutation => (d) => {
    taskAt(d, n).params = { deep: nest("x", depth) };
  }),
  fc.nat().map((n): Mutation => (d) => {
    if (Array.isArray(d.tasks)) d.tasks.push(structuredClone(taskAt(d, n)));
  }),
  // A back edge: a task depends on a later one, often closing a cycle.
  fc.tuple(fc.nat(), fc.nat()).map(([a, b]): Mutation => (d) => {
    const from = taskAt(d, a);
    const to = taskAt(d, b);
    from.depends_on = [...(Array.isArray(from.depends_on) ? from.depends_on : []), to.id];
  }),
  fc.tuple(fc.nat(), fc.string()).map(([n, dep]): Mutation => (d) => {
    taskAt(d, n).depends_on = [dep];
  }),
);

Deno.test("parseDag() + buildPlan(): every valid DAG plans in dependency order", () => {
  fc.assert(
    fc.property(validDag, (dag) => {
      assert.equal(check(toYaml(dag)), "planned");
    }),
    fuzzParams(),
  );
});

Deno.test("parseDag(): random YAML documents are rejected with located issues, never crash", async () => {
  await fc.assert(
    fc.asyncProperty(yamlValue, async (value) => {
      await bounded("parseDag", () => check(toYaml(value)));
    }),
    fuzzParams(),
  );
});

Deno.test("parseDag(): random text and bytes never crash or hang", async () => {
  const text = fc.oneof(fc.string({ unit: "binary", maxLength: 400 }), decodedBytes);
  await fc.assert(
    fc.asyncProperty(text, async (source) => {
      await bounded("parseDag", () => check(source));
    }),
    fuzzParams(),
  );
});

Deno.test("parseDag(): mutated valid DAGs are accepted and planned, or rejected cleanly", async () => {
  const outcomes: Record<Outcome, number> = { rejected: 0, cycle: 0, planned: 0 };
  const damaged = fc.tuple(
    validDag,
    fc.array(mutation, { minLength: 1, maxLength: 3 }),
    fc.option(textMutation, { freq: 3 }),
  );
  await fc.assert(
    fc.asyncProperty(damaged, async ([dag, mutations, damageText]) => {
      const copy = structuredClone(dag) as Obj;
      for (const m of mutations) m(copy);
      const source = damageText ? damageText(toYaml(copy)) : toYaml(copy);
      outcomes[await bounded("parseDag", () => check(source))]++;
    }),
    fuzzParams(),
  );
  // The generators must reach every outcome, or the property tests less than it claims.
  for (const [outcome, n] of Object.entries(outcomes)) assert.ok(n > 0, `no ${outcome} case`);
});
