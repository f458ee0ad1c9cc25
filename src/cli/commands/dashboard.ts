import { isAbsolute, relative, resolve } from "node:path";
import { serveDashboard } from "../../dashboard/serve.ts";
import type { DashboardActions, ScheduleInfo, WorkflowInfo } from "../../dashboard/types.ts";
import type { RunSource } from "../../dashboard/run_source.ts";
import { OrchestratorError } from "../../lib/errors.ts";
import { newRunId } from "../../lib/ids.ts";
import { prepareRun } from "../../run/prepare.ts";
import { planRetry } from "../../run/retry.ts";
import { runDag, type RunDagOptions } from "../../run/run_dag.ts";
import type { PreparedRun } from "../../run/prepare.ts";
import { nextFireTimes } from "../../schedule/explain.ts";
import { loadSchedules } from "../../schedule/load.ts";
import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";
import { onStopSignals, runDeps } from "./_scheduling.ts";

export const DASHBOARD_HELP =
  `Usage: orch dashboard [--host 127.0.0.1] [--port 8787] [--dir configs/schedules] [--store URL]

Serves the web dashboard: runs (live), each run's graph, timeline, params, outputs and logs,
schedules, workflows, a JSON API under /api and Prometheus metrics at /metrics.
It reads the store: the JSONL files (ORCH_EVENTS_PATH, STATE_STORE_PATH), or with
ORCH_STORE / --store postgres://... the PostgreSQL tables, runs of every host included.

Options:
  --host HOST   Address to bind (default 127.0.0.1; anything else warns unless a token is set)
  --port PORT   Port (default 8787; 0 picks a free one)
  --dir DIR     Schedules directory shown on the Schedules page (default configs/schedules)

Read-only unless ORCH_DASHBOARD_TOKEN is set; then POST actions (trigger a run, retry a run)
need the header "Authorization: Bearer <token>". Stop with Ctrl+C.
Remote servers: ssh -L 8787:127.0.0.1:8787 host, then open http://127.0.0.1:8787
`;

/**
 * `orch dashboard`: serves the dashboard until SIGINT/SIGTERM.
 * @param ctx The app context.
 * @param args Arguments after `dashboard`.
 * @returns The exit code.
 */
export async function dashboardCommand(ctx: AppContext, args: string[]): Promise<number> {
  const { values } = parseCommandArgs("dashboard", args, {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8787" },
    dir: { type: "string", default: "configs/schedules" },
  });
  if (values.help) {
    ctx.io.stdout(DASHBOARD_HELP);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`Invalid --port "${values.port}": expected 0-65535`, "dashboard");
  }
  const dir = resolve(ctx.io.cwd, values.dir as string);
  const source = await openSource(ctx);
  const background = new Set<Promise<unknown>>();
  const server = await serveDashboard({
    host: values.host as string,
    port,
    paths: ctx.config.paths,
    source,
    token: ctx.config.dashboardToken,
    warn: (m) => ctx.io.stderr(`Warning: ${m}\n`),
    workflowsProvider: () => listWorkflows(ctx),
    schedulesProvider: () => listSchedules(ctx, dir),
    actions: actions(ctx, background),
  }).catch(async (err) => {
    await source?.close();
    throw err;
  });
  const mode = ctx.config.dashboardToken ? "actions enabled by token" : "read-only";
  const from = source ? `; store ${source.description}` : "";
  ctx.io.stderr(`Dashboard at ${server.url} (${mode}${from}); Ctrl+C stops it\n`);
  await new Promise<void>((done) => {
    const stop = onStopSignals(() => {
      stop();
      done();
    });
  });
  ctx.io.stderr("Stopping dashboard\n");
  await server.shutdown();
  await Promise.allSettled(background);
  return 0;
}

/**
 * The PostgreSQL source when the store is PostgreSQL (the store is opened first, so it is
 * reachable and migrated); undefined for the JSONL files. The driver is loaded only then.
 */
async function openSource(ctx: AppContext): Promise<RunSource | undefined> {
  const config = ctx.storeConfig;
  if (config.kind !== "postgres") return undefined;
  await ctx.store();
  const { PostgresRunSource } = await import("../../store/postgres/dashboard_source.ts");
  return PostgresRunSource.open(config);
}

async function listWorkflows(ctx: AppContext): Promise<WorkflowInfo[]> {
  const sources = (await ctx.registry()).sources();
  const infos = await ctx.pool().inspect(sources.map((source) => ({ source, paramSets: [] })));
  return infos.map((i) => ({ name: i.name, description: i.description, params: i.paramsSchema }));
}

async function listSchedules(ctx: AppContext, dir: string): Promise<ScheduleInfo[]> {
  const schedules = await loadSchedules(dir, { cwd: ctx.io.cwd });
  const now = ctx.clock.now();
  return schedules.map((s) => ({
    id: s.id,
    cron: s.cron,
    timezone: s.timezone,
    enabled: s.enabled,
    dag: s.dag,
    tenant: s.tenant,
    nextFireTimes: s.enabled ? nextFireTimes(s, now).map((d) => d.toISOString()) : [],
  }));
}

/**
 * Runs started from the dashboard go through `runDag`, as `orch run` and `orch retry` do:
 * they are recorded in the state store and appear in `orch runs`.
 */
function actions(ctx: AppContext, background: Set<Promise<unknown>>): DashboardActions {
  async function start(prepared: PreparedRun, options: RunDagOptions): Promise<{ runId: string }> {
    const runId = newRunId(ctx.clock.now());
    const deps = await runDeps(ctx);
    await deps.events.open();
    const run = runDag(prepared, deps, { ...options, runId }).catch((err) => {
      ctx.io.stderr(`Run ${runId} from the dashboard failed to record: ${err}\n`);
    }).finally(() => background.delete(run));
    background.add(run);
    return { runId };
  }
  return {
    async triggerRun(request) {
      const path = resolve(ctx.io.cwd, request.dag);
      const rel = relative(ctx.io.cwd, path);
      if (rel.startsWith("..") || isAbsolute(rel) || !/\.ya?ml$/.test(path)) {
        throw new OrchestratorError(
          `Cannot run "${request.dag}": only .yaml files under the current directory can be triggered`,
          { code: "trigger_denied", exitCode: 2 },
        );
      }
      const prepared = await prepareRun(path, { registry: await ctx.registry(), pool: ctx.pool() });
      return start(prepared, { trigger: "manual", runParams: request.params });
    },
    async retryRun(runId) {
      const backend = await ctx.store();
      const plan = await planRetry(runId, {
        store: backend.state,
        taskEvents: backend.taskEvents,
      });
      const prepared = await prepareRun(plan.dagPath, {
        registry: await ctx.registry(),
        pool: ctx.pool(),
      });
      return start(prepared, {
        trigger: "retry",
        retryOf: plan.retryOf,
        scheduleId: plan.scheduleId,
        runParams: plan.runParams,
        reuse: plan.reuse,
      });
    },
  };
}
