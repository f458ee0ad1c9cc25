/** Shared setup of the cluster (distributed execution) tests: sandboxes and workers. */
import { orch, type Sandbox, sandbox } from "../helpers/cli.ts";
import { FIXTURES, spawnOrch } from "../e2e/_sched.ts";
import { collectStderr, type PgScope } from "./_pg.ts";

/** An `orch worker` child and its stderr. */
export interface WorkerProc {
  child: Deno.ChildProcess;
  log(): string;
  done: Promise<void>;
}

/**
 * A sandbox on the test's schema, with the test plugins.
 * @param scope The test's schema.
 * @returns The sandbox.
 */
export async function clusterSandbox(scope: PgScope): Promise<Sandbox> {
  const sb = await sandbox();
  sb.env.WORKFLOWS_DIR = FIXTURES;
  sb.env.ORCH_STORE = scope.url;
  return sb;
}

/**
 * Starts `orch worker` processes and waits until each serves.
 * @param sb The sandbox.
 * @param n How many.
 * @param env Extra environment (e.g. ORCH_WORKER_LOST_MS).
 * @returns The workers.
 */
export async function startWorkers(
  sb: Sandbox,
  n: number,
  env: Record<string, string> = {},
): Promise<WorkerProc[]> {
  const out: WorkerProc[] = [];
  for (let k = 0; k < n; k++) {
    const child = spawnOrch(["worker"], sb, env);
    const err = collectStderr(child);
    out.push({ child, log: err.text, done: err.done });
  }
  const end = Date.now() + 30_000;
  while (!out.every((w) => /serving/.test(w.log()))) {
    if (Date.now() > end) throw new Error(`workers did not start:\n${logs(out)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return out;
}

/**
 * @param workers The workers.
 * @returns Their stderr, joined.
 */
export function logs(workers: readonly WorkerProc[]): string {
  return workers.map((w) => w.log()).join("\n");
}

/**
 * Stops workers with SIGTERM and returns their exit codes (SIGKILL after `timeoutMs`).
 * @param workers The workers.
 * @param timeoutMs How long they may take.
 * @returns Exit codes, and whether each stopped in time.
 */
export async function stopWorkers(
  workers: readonly WorkerProc[],
  timeoutMs = 15_000,
): Promise<{ code: number; inTime: boolean }[]> {
  return await Promise.all(workers.map(async (w) => {
    try {
      w.child.kill("SIGTERM");
    } catch { /* gone */ }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<false>((r) => timer = setTimeout(() => r(false), timeoutMs));
    const inTime = await Promise.race([w.child.status.then(() => true), late]);
    clearTimeout(timer);
    if (!inTime) {
      try {
        w.child.kill("SIGKILL");
      } catch { /* gone */ }
    }
    const status = await w.child.status;
    await w.done;
    return { code: status.code, inTime };
  }));
}

/**
 * Runs the CLI in the sandbox.
 * @param sb The sandbox.
 * @param args Arguments.
 * @param env Extra environment.
 * @returns Exit code and output.
 */
export function cli(sb: Sandbox, args: string[], env: Record<string, string> = {}) {
  return orch(args, { cwd: sb.dir, env: { ...sb.env, ...env } });
}

/**
 * Polls a query until it returns a truthy value.
 * @param check The query.
 * @param timeoutMs The bound.
 * @returns The value.
 */
export async function eventually<T>(
  check: () => Promise<T | null | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (true) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error("Timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A DAG file's text.
 * @param name The DAG's name.
 * @param tasks Its tasks.
 * @returns JSON (valid YAML).
 */
export function dagText(name: string, tasks: Record<string, unknown>[]): string {
  return JSON.stringify({ name, tenant_id: "t", tasks });
}

/**
 * Keeps a record of every attempt in the test's schema: a success's queue row is deleted
 * (migration 6), so a trigger copies it into `done_attempts` with state `done`, and the
 * view `attempts` lists both (the columns of `task_queue`). Call before submitting.
 * @param sql A client on the test's schema.
 */
export async function recordAttempts(sql: PgScope["sql"]): Promise<void> {
  await sql`create table done_attempts (like task_queue)`;
  await sql`create function keep_done_attempt() returns trigger language plpgsql as $$
    declare r task_queue := old;
    begin
      r.state := 'done';
      insert into done_attempts select (r).*;
      return old;
    end $$`;
  await sql`create trigger keep_done after delete on task_queue
    for each row when (old.state = 'running') execute function keep_done_attempt()`;
  await sql`create view attempts as
    select * from task_queue union all select * from done_attempts`;
}
