import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { SandboxProfile, WorkerPermissions, WorkflowPermissions } from "./permissions.ts";

// Apart from permissions.ts: workers check declarations and explain denials, and need
// neither node:path nor node:url (a few ms of every worker's start-up).

/**
 * Builds a worker sandbox from a declaration. Paths resolve against `cwd`; `baseRead` (the
 * directories the worker must read to load orch and the plugins) is always added. Pure.
 * @param declared The workflow's declaration (checked by {@link parsePermissions}).
 * @param options `cwd` for relative paths and the `baseRead` directories.
 * @returns The profile.
 */
export function sandboxProfile(
  declared: WorkflowPermissions | undefined,
  options: { cwd: string; baseRead: readonly string[] },
): SandboxProfile {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(options.cwd, p));
  const sorted = (xs: string[] | undefined, f: (s: string) => string = (s) => s) =>
    xs && xs.length ? [...new Set(xs.map(f))].sort() : false as const;
  const permissions: WorkerPermissions = {
    read: [...new Set([...options.baseRead, ...(declared?.read ?? []).map(abs)])].sort(),
    write: sorted(declared?.write, abs),
    net: sorted(declared?.net),
    env: sorted(declared?.env),
    run: sorted(declared?.run),
    sys: sorted(declared?.sys),
    ffi: false,
    import: false,
  };
  return { key: JSON.stringify(permissions), permissions };
}

/**
 * Directories every plugin worker must read: orch's own modules (the worker entry, the
 * plugin API, `mod.ts`), the built-in workflows, and the user's workflows directory. In a
 * compiled binary orch's modules are embedded and need no read access.
 * @param workflowsDir Absolute path of WORKFLOWS_DIR.
 * @returns Absolute paths.
 */
export function baseReadRoots(workflowsDir: string): string[] {
  const roots = [workflowsDir];
  const here = new URL("../../", import.meta.url);
  if (here.protocol === "file:") {
    const repo = fileURLToPath(here).replace(/\/$/, "");
    roots.push(`${repo}/src`, `${repo}/workflows`, `${repo}/mod.ts`);
  }
  return roots;
}
