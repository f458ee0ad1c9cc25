import { createDashboard, type Dashboard, type DashboardOptions } from "./app.ts";

/** Options of {@link serveDashboard}: those of `createDashboard` plus where to listen. */
export interface ServeDashboardOptions extends DashboardOptions {
  /** Interface to bind. Default `127.0.0.1` (loopback only). */
  host?: string;
  /** TCP port. Default 8787; 0 picks a free port (read it from `url`). */
  port?: number;
  /** Where warnings go (e.g. a public host without a token). Default `console.warn`. */
  warn?: (message: string) => void;
  /** Aborting it shuts the server down, like calling `shutdown()`. */
  signal?: AbortSignal;
}

/** A running dashboard server. */
export interface DashboardServer {
  /** The base URL, e.g. `http://127.0.0.1:8787/`. */
  readonly url: string;
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** The handler behind the server. */
  readonly app: Dashboard;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  /** Closes SSE streams first (the server would wait for them forever), then the server. */
  shutdown(): Promise<void>;
}

/**
 * Tells whether a host name binds to loopback only.
 * @param host A host name or IP.
 * @returns True for `localhost`, `127.x.x.x` and `::1`.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** True when the request's Host names loopback (a DNS-rebinding page names its own host). */
function isLoopbackRequest(req: Request): boolean {
  const host = req.headers.get("host") ?? "";
  return isLoopbackHost(host.replace(/:\d+$/, ""));
}

function misdirected(): Response {
  return new Response("Cannot serve this Host: the dashboard is bound to loopback\n", {
    status: 421,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * Serves the dashboard with `Deno.serve`. Reads the logs once before listening so the
 * first page is fast. Binds to loopback by default; binding another host without a
 * token calls `warn`, since anyone who can reach the port can read every task's params
 * and output. To reach it on a server, tunnel: `ssh -L 8787:127.0.0.1:8787 host`.
 *
 * When bound to loopback, requests whose `Host` is not a loopback name get 421, so a web
 * page that re-binds its DNS name to 127.0.0.1 cannot read the API. The token
 * (ORCH_DASHBOARD_TOKEN) is passed in as `token`; this module reads no environment
 * variables.
 *
 * @param options Host (default `127.0.0.1`), port (default 8787), `warn`, `signal`, and
 *   every option of `createDashboard` (paths, clock, token, providers, actions).
 * @returns The running server.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 * @example
 * ```ts ignore
 * const server = await serveDashboard({ paths: loadConfig(Deno.env.toObject()).paths });
 * console.log(`Dashboard on ${server.url}`);
 * await server.finished;
 * ```
 */
export async function serveDashboard(options: ServeDashboardOptions): Promise<DashboardServer> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 8787;
  const warn = options.warn ?? console.warn;
  if (!isLoopbackHost(host) && !options.token) {
    warn(
      `Warning: the dashboard listens on "${host}" without ORCH_DASHBOARD_TOKEN: anyone who can reach port ${port} can read every run's params and output. Bind 127.0.0.1 and use an SSH tunnel, or set a token`,
    );
  }
  const app = createDashboard(options);
  await app.store.refresh();
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const loopback = isLoopbackHost(host);
  const server = Deno.serve(
    { hostname: host, port, onListen: (addr) => listening.resolve(addr as Deno.NetAddr) },
    (req) => loopback && !isLoopbackRequest(req) ? misdirected() : app.fetch(req),
  );
  const addr = await listening.promise;
  let stopping: Promise<void> | null = null;
  function shutdown(): Promise<void> {
    stopping ??= (async () => {
      const closed = app.close();
      await server.shutdown();
      await closed;
    })();
    return stopping;
  }
  options.signal?.addEventListener("abort", () => void shutdown(), { once: true });
  const shown = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    url: `http://${shown}:${addr.port}/`,
    addr,
    app,
    finished: server.finished,
    shutdown,
  };
}
