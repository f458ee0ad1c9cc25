/**
 * Simulated hosts for the multi-host PostgreSQL tests: each {@link Host} is a network
 * namespace joined to the root namespace by a veth pair, `10.231.N.1` (root side, where
 * the local PostgreSQL answers: .ci/postgres.sh makes it listen on every address and
 * trust 10.231.0.0/16) <-> `10.231.N.2` (the host). Processes started with
 * {@link Host.spawn} run inside the namespace (`ip netns exec`) and reach the database
 * only through that link.
 *
 * {@link Host.cut} sets the root side of the link down: packets are dropped both ways and
 * TCP hangs (no reset, no "no route to host": the host has a permanent neighbour entry
 * for the root side, so even a new connect just retransmits its SYN), which is what a
 * partition looks like.
 * {@link Host.restore} sets it up again and held connections resume.
 *
 * Needs root and `ip netns`; {@link NETNS_SKIP} says why not otherwise, and
 * {@link netnsTest} ignores the test with that message. Namespaces and links are always
 * removed ({@link withHosts}); ones left by a killed test process (named after its pid)
 * are swept when this module loads.
 * @module
 */
import { REPO } from "../helpers/cli.ts";
import { MAIN } from "../e2e/_sched.ts";
import { PG_URL, type PgScope, pgTest } from "./_pg.ts";

const PREFIX = "orchnet";

async function ip(...args: string[]): Promise<{ ok: boolean; out: string; err: string }> {
  try {
    const out = await new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).output();
    const dec = new TextDecoder();
    return { ok: out.success, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
  } catch (err) {
    return { ok: false, out: "", err: String(err) };
  }
}

async function must(...args: string[]): Promise<string> {
  const r = await ip(...args);
  if (!r.ok) throw new Error(`ip ${args.join(" ")} failed: ${r.err.trim()}`);
  return r.out;
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

async function removeNamespace(ns: string, index: number): Promise<void> {
  const pids = (await ip("netns", "pids", ns)).out.split("\n").filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  await ip("link", "del", `${PREFIX}${index}h`);
  await ip("netns", "del", ns);
}

/** Deletes the namespaces (and links) of test processes that died without cleaning up. */
async function sweep(): Promise<void> {
  const list = await ip("netns", "list");
  for (const line of list.out.split("\n")) {
    const m = new RegExp(`^${PREFIX}-(\\d+)-(\\d+)\\b`).exec(line);
    if (m && !alive(Number(m[2]))) await removeNamespace(m[0], Number(m[1]));
  }
}

async function whyUnavailable(): Promise<string | null> {
  if (PG_URL === null) return "no PostgreSQL server (see tests/postgres/_pg.ts)";
  const host = new URL(PG_URL).hostname;
  if (!["127.0.0.1", "localhost"].includes(host)) {
    return `the test server ${host} is not local; namespaces reach only a server on this machine`;
  }
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return "network namespaces need root on Linux";
  const probe = `${PREFIX}-probe-${Deno.pid}`;
  const r = await ip("netns", "add", probe);
  if (!r.ok) return `'ip netns add' failed: ${r.err.trim() || "ip not found"}`;
  await ip("netns", "del", probe);
  await sweep();
  return null;
}

/** Why the multi-host tests cannot run here, or null when they can. */
export const NETNS_SKIP: string | null = await whyUnavailable();
if (NETNS_SKIP) console.warn(`tests/postgres/netns_*: ignored: ${NETNS_SKIP}`);

/** One simulated host. */
export interface Host {
  /** Host number N (subnet 10.231.N.0/24). */
  index: number;
  /** The namespace's name. */
  ns: string;
  /** The database's address as seen from this host (root side of the link). */
  gateway: string;
  /** This host's address. */
  address: string;
  /**
   * @param url A store URL on the local server (127.0.0.1).
   * @returns The same URL reached from this host (through its link).
   */
  storeUrl(url: string): string;
  /**
   * Starts `deno run -A --config deno.json <script> ...args` inside the namespace.
   * @param script Absolute path of the script (main.ts for orch).
   * @param args Its arguments.
   * @param options Working directory and environment (added to this process's).
   * @returns The child (stdout and stderr piped); its pid is the deno process's.
   */
  spawn(
    script: string,
    args: string[],
    options?: { cwd?: string; env?: Record<string, string> },
  ): Deno.ChildProcess;
  /**
   * Starts the orch CLI inside the namespace (as tests/e2e/_sched.ts spawnOrch does).
   * @param args CLI arguments.
   * @param options Working directory and environment.
   * @returns The child.
   */
  orch(args: string[], options: { cwd: string; env?: Record<string, string> }): Deno.ChildProcess;
  /** Cuts the link (packets dropped both ways; connections hang). */
  cut(): Promise<void>;
  /** Restores the link. */
  restore(): Promise<void>;
}

async function createHost(): Promise<Host> {
  // The root side's link name claims the index atomically (`ip link add` fails if taken).
  let index = 0;
  const first = 1 + Math.floor(Math.random() * 250);
  for (let k = 0; k < 250 && index === 0; k++) {
    const n = 1 + ((first + k) % 250);
    if (
      (await ip("link", "add", `${PREFIX}${n}h`, "type", "veth", "peer", "name", `${PREFIX}${n}n`))
        .ok
    ) {
      index = n;
    }
  }
  if (index === 0) throw new Error("No free 10.231.N.0/24 subnet for a test host");
  const ns = `${PREFIX}-${index}-${Deno.pid}`;
  const outer = `${PREFIX}${index}h`;
  const inner = `${PREFIX}${index}n`;
  const gateway = `10.231.${index}.1`;
  const address = `10.231.${index}.2`;
  try {
    await must("netns", "add", ns);
    await must("link", "set", inner, "netns", ns);
    await must("addr", "add", `${gateway}/24`, "dev", outer);
    await must("link", "set", outer, "up");
    const inNs = (...args: string[]) => must("netns", "exec", ns, "ip", ...args);
    await inNs("addr", "add", `${address}/24`, "dev", inner);
    await inNs("link", "set", inner, "up");
    await inNs("link", "set", "lo", "up");
    // Permanent neighbours: a cut link then drops packets instead of failing ARP with
    // "no route to host" after a second, so connects hang as across a real partition.
    const outerMac = (await Deno.readTextFile(`/sys/class/net/${outer}/address`)).trim();
    await inNs("neigh", "replace", gateway, "lladdr", outerMac, "dev", inner, "nud", "permanent");
  } catch (err) {
    await removeNamespace(ns, index);
    throw err;
  }
  const spawn: Host["spawn"] = (script, args, options = {}) =>
    new Deno.Command("ip", {
      args: [
        ...["netns", "exec", ns, Deno.execPath(), "run", "-A", "--quiet"],
        ...["--config", `${REPO}/deno.json`, script, ...args],
      ],
      cwd: options.cwd,
      env: { NO_COLOR: "1", RUST_BACKTRACE: "0", ...options.env },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  return {
    index,
    ns,
    gateway,
    address,
    storeUrl(url) {
      const u = new URL(url);
      u.hostname = gateway;
      return u.toString();
    },
    spawn,
    orch: (args, options) => spawn(MAIN, args, options),
    cut: async () => void await must("link", "set", outer, "down"),
    restore: async () => void await must("link", "set", outer, "up"),
  };
}

/**
 * Creates `n` hosts, runs `fn`, then kills every process left in them and removes them,
 * whether `fn` succeeded or not.
 * @param n How many hosts.
 * @param fn The test body.
 * @returns What `fn` returns.
 */
export async function withHosts<T>(n: number, fn: (hosts: Host[]) => Promise<T>): Promise<T> {
  const hosts: Host[] = [];
  try {
    for (let i = 0; i < n; i++) hosts.push(await createHost());
    return await fn(hosts);
  } finally {
    for (const h of hosts) await removeNamespace(h.ns, h.index);
  }
}

/**
 * Registers a PostgreSQL test (own schema, see {@link pgTest}) that runs on `hosts`
 * simulated hosts; ignored with {@link NETNS_SKIP}'s message when namespaces are not
 * available.
 * @param name The test name.
 * @param hosts How many hosts.
 * @param fn The body.
 */
export function netnsTest(
  name: string,
  hosts: number,
  fn: (scope: PgScope, hosts: Host[]) => Promise<void>,
): void {
  if (NETNS_SKIP) {
    Deno.test({ name, ignore: true, fn: () => {} });
    return;
  }
  pgTest(name, (scope) => withHosts(hosts, (h) => fn(scope, h)));
}

/**
 * Kills a child (SIGKILL) if it still runs and waits for it.
 * @param child The child.
 */
export async function reap(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch { /* already gone */ }
  await child.status;
}

/**
 * Polls until `check` holds.
 * @param check The condition.
 * @param ms The bound.
 * @param what What is awaited, for the error (a function to show state at the time).
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: string | (() => string),
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) {
      throw new Error(
        `Timed out after ${ms} ms waiting for ${typeof what === "string" ? what : what()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Collects a child's stdout as JSON lines (one object a line) as they come; stderr is
 * kept as text.
 * @param child The child, stdout and stderr piped.
 * @returns The objects so far, the stderr so far, and the end of both streams.
 */
export function jsonLines(
  child: Deno.ChildProcess,
): { lines: Record<string, unknown>[]; stderr(): string; done: Promise<void> } {
  const lines: Record<string, unknown>[] = [];
  let err = "";
  const out = (async () => {
    let buf = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line.startsWith("{")) lines.push(JSON.parse(line));
      }
    }
  })().catch(() => {});
  const errDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (t) => void (err += t) }),
  ).catch(() => {});
  return { lines, stderr: () => err, done: Promise.all([out, errDone]).then(() => {}) };
}
