import type { Paths } from "../config/mod.ts";
import { type Clock, OrchestratorError, systemClock } from "../lib/mod.ts";
import { ASSETS, PAGE } from "./assets.ts";
import { requireToken } from "./auth.ts";
import { HttpError } from "./errors.ts";
import { indexMetrics, METRICS_CONTENT_TYPE, type MetricValues, renderMetrics } from "./metrics.ts";
import { JsonlRunSource } from "./jsonl_source.ts";
import type { RunQuery } from "./run_index.ts";
import type { RunSource } from "./run_source.ts";
import { RunStore } from "./run_store.ts";
import { callProvider } from "./_provided.ts";
import { listSchedules } from "./schedules.ts";
import { SseHub } from "./sse_hub.ts";
import type { DashboardActions, SchedulesProvider, WorkflowsProvider } from "./types.ts";

/** Options of {@link createDashboard}. */
export interface DashboardOptions {
  /**
   * The events file (`ORCH_EVENTS_PATH`) and state store (`STATE_STORE_PATH`), read
   * through a {@link JsonlRunSource}. Ignored when `source` is given.
   */
  paths?: Pick<Paths, "eventsPath" | "statePath">;
  /**
   * Where runs are read from (e.g. the PostgreSQL store's `PostgresRunSource`). The
   * dashboard closes it in `close()`. Default: the JSONL files of `paths`.
   */
  source?: RunSource;
  /** Source of "now" for durations of running runs. Default: the system clock. */
  clock?: Clock;
  /** ORCH_DASHBOARD_TOKEN. Without it the dashboard is read-only (actions answer 403). */
  token?: string;
  /** Lists schedules (the scheduler implements it). Without it `/api/schedules` is empty. */
  schedulesProvider?: SchedulesProvider;
  /** Lists workflows (the registry implements it). Without it `/api/workflows` is empty. */
  workflowsProvider?: WorkflowsProvider;
  /** Trigger and retry (the engine implements it). Without it actions answer 501. */
  actions?: DashboardActions;
  /**
   * How often the logs are polled while an SSE client is connected. Default: the
   * source's (250 ms for the files, 500 ms for PostgreSQL).
   */
  pollIntervalMs?: number;
}

/** The dashboard as a request handler. */
export interface Dashboard {
  /**
   * Answers one request; never throws (errors become JSON responses).
   * @param req The request.
   * @returns The response.
   */
  fetch(req: Request): Promise<Response>;
  /**
   * Ends every SSE stream at once (synchronously, so `server.shutdown()` can follow) and
   * stops polling; the promise resolves when no log read is in flight and the source is
   * closed.
   */
  close(): Promise<void>;
  /** The read model, for benchmarks and tests. */
  readonly store: RunStore;
}

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

function intParam(url: URL, name: string): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    throw new HttpError(400, `Cannot read query "${name}"="${raw}": expected a whole number >= 0`, {
      code: "bad_query",
    });
  }
  return n;
}

function errorResponse(err: unknown): Response {
  if (err instanceof HttpError) {
    return json({ error: { code: err.code, message: err.message } }, err.status);
  }
  if (err instanceof OrchestratorError && err.exitCode === 2) {
    return json({ error: { code: err.code, message: err.message, hint: err.hint } }, 400);
  }
  const message = err instanceof Error ? err.message : String(err);
  return json({ error: { code: "internal", message: `Internal error: ${message}` } }, 500);
}

/**
 * Builds the dashboard: pages, JSON API, SSE and metrics over the two logs. Logs are
 * read incrementally: each API request first folds what was appended since the last
 * read (never the whole file again), and while an SSE client is connected the logs are
 * polled every `pollIntervalMs`.
 * @param options Paths or source, clock, token, providers and actions.
 * @returns The handler; call `close()` when done.
 * @throws {TypeError} When neither `paths` nor `source` is given.
 * @example
 * ```ts ignore
 * const app = createDashboard({ paths: { eventsPath: "e.jsonl", statePath: "s.jsonl" } });
 * const res = await app.fetch(new Request("http://x/api/runs?status=failed"));
 * await app.close();
 * ```
 */
export function createDashboard(options: DashboardOptions): Dashboard {
  const clock = options.clock ?? systemClock;
  const source = options.source ?? jsonlSource(options.paths);
  // The hub only calls `tick` once a client is connected, after `store` exists.
  const hub = new SseHub(() => store.refresh(), {
    intervalMs: options.pollIntervalMs ?? source.pollIntervalMs,
  });
  const store = new RunStore(source, {
    onChanges(changes) {
      if (hub.size === 0) return;
      if (changes.reset || changes.overflow) return hub.send("reload", { reset: changes.reset });
      const now = clock.now().getTime();
      const runs = changes.runIds.map((id) => store.index.get(id)).filter((r) => r !== undefined)
        .map((r) => store.index.summary(r, now));
      hub.send("runs", { runs, events: changes.events });
    },
  });
  // A source that can tell when something was written wakes live clients at once; the
  // poll every `pollIntervalMs` stays as the fallback.
  const watching = source.watch?.(() => hub.kick()).catch(() => null) ?? Promise.resolve(null);

  async function api(req: Request, url: URL): Promise<Response> {
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    const now = () => clock.now().getTime();
    if (req.method === "GET" && parts[1] === "events" && parts.length === 2) {
      await store.refresh();
      return hub.subscribe();
    }
    if (parts[1] === "runs" && req.method === "POST") return await action(req, parts);
    if (req.method !== "GET") {
      throw new HttpError(405, `Cannot ${req.method} "${url.pathname}"`, { code: "bad_method" });
    }
    await store.refresh();
    switch (
      parts.length === 2 ? parts[1] : parts.length === 3 && parts[1] === "runs" ? "run" : ""
    ) {
      case "info":
        return json({
          read_only: !options.token,
          actions: !!options.token && !!options.actions,
          files: store.stats(),
          runs: store.index.size,
        });
      case "runs": {
        const q: RunQuery = {
          status: url.searchParams.get("status") ?? undefined,
          dag: url.searchParams.get("dag") ?? undefined,
          schedule: url.searchParams.get("schedule") ?? undefined,
          tenant: url.searchParams.get("tenant") ?? undefined,
          limit: intParam(url, "limit"),
          offset: intParam(url, "offset"),
        };
        return json(await store.list(q, now()));
      }
      case "run":
        return json(await store.detail(parts[2], now()));
      case "facets":
        return json(await store.facets());
      case "schedules":
        return json({
          configured: !!options.schedulesProvider,
          schedules: await listSchedules(options.schedulesProvider, store.index),
        });
      case "workflows":
        return json({
          configured: !!options.workflowsProvider,
          workflows: await callProvider(options.workflowsProvider, "workflows"),
        });
    }
    throw new HttpError(404, `Cannot find "${url.pathname}"`, { code: "not_found" });
  }

  async function action(req: Request, parts: string[]): Promise<Response> {
    requireToken(req, options.token);
    const actions = options.actions;
    if (!actions) {
      throw new HttpError(501, "Cannot run actions: no engine is wired to this dashboard", {
        code: "no_actions",
      });
    }
    if (parts.length === 2) {
      const body = await req.json().catch(() => null);
      if (!body || typeof body.dag !== "string" || body.dag === "") {
        throw new HttpError(400, 'Cannot trigger a run: the body needs {"dag": "<name>"}', {
          code: "bad_body",
        });
      }
      const params = body.params && typeof body.params === "object" ? body.params : undefined;
      const { runId } = await actions.triggerRun({ dag: body.dag, params });
      return json({ run_id: runId }, 202);
    }
    if (parts.length === 4 && parts[3] === "retry") {
      if (!(await store.find(parts[2]))) {
        throw new HttpError(404, `Cannot retry run "${parts[2]}": not found`, {
          code: "run_not_found",
        });
      }
      const { runId } = await actions.retryRun(parts[2]);
      return json({ run_id: runId, retry_of: parts[2] }, 202);
    }
    throw new HttpError(404, `Cannot find action "/${parts.join("/")}"`, { code: "not_found" });
  }

  /** The whole store's counts when the source has them (SQL), else the index's. */
  async function metricValues(): Promise<MetricValues> {
    if (source.metrics) return await source.metrics();
    await store.refresh();
    const s = store.stats();
    return indexMetrics(
      store.index,
      { events: s.events, state: s.state },
      await source.lastTickMs(),
    );
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname.startsWith("/api/")) return await api(req, url);
    if (req.method !== "GET" && req.method !== "HEAD") {
      throw new HttpError(405, `Cannot ${req.method} "${url.pathname}"`, { code: "bad_method" });
    }
    if (url.pathname === "/metrics") {
      const body = renderMetrics(await metricValues());
      return new Response(body, {
        headers: { "content-type": METRICS_CONTENT_TYPE },
      });
    }
    const name = url.pathname.startsWith("/assets/") ? url.pathname.slice(8) : "";
    const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (asset) {
      return new Response(asset.body, {
        headers: { "content-type": asset.type, "cache-control": "no-cache" },
      });
    }
    if (/^\/(runs\/[^/]+|schedules|workflows)?\/?$/.test(url.pathname)) {
      return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    throw new HttpError(404, `Cannot find "${url.pathname}"`, { code: "not_found" });
  }

  return {
    store,
    async fetch(req: Request): Promise<Response> {
      let res: Response;
      try {
        res = await handle(req);
      } catch (err) {
        res = errorResponse(err);
      }
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.headers.set(k, v);
      return res;
    },
    async close(): Promise<void> {
      hub.closeAll();
      await (await watching)?.();
      await store.idle();
      await source.close();
    },
  };
}

function jsonlSource(paths: DashboardOptions["paths"]): RunSource {
  if (!paths) throw new TypeError("createDashboard() needs `paths` or `source`");
  return new JsonlRunSource(paths);
}
