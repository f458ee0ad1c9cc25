/**
 * Benchmark DAG shapes, ported from the peer harness's `gen_dags.py`:
 * - `chain`: t1 -> t2 -> ... -> tN (pure dispatch latency);
 * - `fan`: t1 -> {t2..t(N-1)} -> tN (maximum parallelism, one big fan-in);
 * - `layered`: about sqrt(N) layers of width about sqrt(N); every task after the first
 *   layer depends on 1-3 random tasks of the layer before (seeded, so every run and
 *   machine gets the same DAGs; the random stream is mulberry32, not Python's, so the
 *   edges differ from the harness's files while the shape is the same).
 * Tasks are listed in topological order. Writes `<shape>_<n>.yaml` (orch's format, as
 * the harness writes it) and `<shape>_<n>.json` (`{name, shape, n, tasks: [{id, deps}]}`).
 * @module
 */

/** One task of a neutral DAG spec. */
export interface SpecTask {
  id: string;
  deps: string[];
}

/** A DAG in neutral form. */
export interface Spec {
  name: string;
  shape: Shape;
  n: number;
  tasks: SpecTask[];
}

/** The DAG shapes. */
export type Shape = "chain" | "fan" | "layered";

/** The fixed seed of the layered shape. */
export const SEED = 42;

/** @returns A seeded generator of floats in [0, 1) (mulberry32). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function chain(n: number): SpecTask[] {
  return Array.from({ length: n }, (_, k) => ({ id: `t${k + 1}`, deps: k ? [`t${k}`] : [] }));
}

function fan(n: number): SpecTask[] {
  const mids = Array.from({ length: Math.max(0, n - 2) }, (_, k) => `t${k + 2}`);
  const tasks = [{ id: "t1", deps: [] as string[] }, ...mids.map((id) => ({ id, deps: ["t1"] }))];
  if (n > 1) tasks.push({ id: `t${n}`, deps: mids.length ? mids : ["t1"] });
  return tasks;
}

function layered(n: number, seed = SEED): SpecTask[] {
  const random = mulberry32(seed);
  const width = Math.max(1, Math.round(Math.sqrt(n)));
  const tasks: SpecTask[] = [];
  let prev: number[] = [];
  let i = 1;
  while (i <= n) {
    const layer: number[] = [];
    const size = Math.min(width, n - i + 1);
    for (let k = 0; k < size; k++, i++) {
      let deps: number[] = [];
      if (prev.length) {
        const want = 1 + Math.floor(random() * Math.min(3, prev.length));
        const pool = prev.slice();
        for (let d = 0; d < want; d++) {
          const j = d + Math.floor(random() * (pool.length - d));
          [pool[d], pool[j]] = [pool[j], pool[d]];
        }
        deps = pool.slice(0, want).sort((a, b) => a - b);
      }
      tasks.push({ id: `t${i}`, deps: deps.map((d) => `t${d}`) });
      layer.push(i);
    }
    prev = layer;
  }
  return tasks;
}

/**
 * Builds one DAG spec.
 * @param shape The shape.
 * @param n Number of tasks (exactly).
 * @returns The spec.
 */
export function makeSpec(shape: Shape, n: number): Spec {
  const make = { chain, fan, layered }[shape];
  return { name: `${shape}_${n}`, shape, n, tasks: make(n) };
}

/**
 * orch's YAML for a spec, line for line as the peer harness writes it.
 * @param spec The DAG.
 * @returns The YAML text.
 */
export function toYaml(spec: Spec): string {
  const out = [`name: ${spec.name}`, "tenant_id: bench", "tasks:"];
  for (const t of spec.tasks) {
    out.push(`  - id: ${t.id}`, "    workflow_ref: noop", "    params: {}", "    retries: 0");
    out.push(`    depends_on: [${t.deps.join(", ")}]`);
  }
  return out.join("\n") + "\n";
}

/**
 * Writes `<name>.yaml` and `<name>.json` for every shape and size into a directory.
 * @param dir The directory (created if missing).
 * @param sizes Task counts.
 * @returns The specs written, with the path of each YAML file.
 */
export async function writeDags(
  dir: string,
  sizes: readonly number[],
): Promise<{ spec: Spec; yaml: string }[]> {
  await Deno.mkdir(dir, { recursive: true });
  const written = [];
  for (const shape of ["chain", "fan", "layered"] as const) {
    for (const n of sizes) {
      const spec = makeSpec(shape, n);
      const yaml = `${dir}/${spec.name}.yaml`;
      await Deno.writeTextFile(yaml, toYaml(spec));
      await Deno.writeTextFile(`${dir}/${spec.name}.json`, JSON.stringify(spec));
      written.push({ spec, yaml });
    }
  }
  return written;
}

if (import.meta.main) {
  const [dir = "bench_dags", ...ns] = Deno.args;
  const sizes = ns.length ? ns.map(Number) : [100, 1000, 10000];
  for (const { spec } of await writeDags(dir, sizes)) {
    const edges = spec.tasks.reduce((s, t) => s + t.deps.length, 0);
    console.log(`${spec.name}: ${spec.n} tasks, ${edges} edges`);
  }
}
