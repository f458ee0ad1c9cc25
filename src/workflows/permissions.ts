/**
 * What a workflow may touch, declared next to its `run`. Its worker gets exactly these
 * through Deno's worker permissions; anything else fails the task with a message naming
 * the missing permission. CPU time and memory are not limited by this (see README).
 */
export interface WorkflowPermissions {
  /** Files or directories it may read (relative to the current directory). */
  read?: string[];
  /** Files or directories it may write. */
  write?: string[];
  /** Hosts (`host` or `host:port`) it may connect to. */
  net?: string[];
  /** Environment variables it may read, including those named in `${env:NAME}` params. */
  env?: string[];
  /** Programs it may run. */
  run?: string[];
  /** System information it may read (`hostname`, `osRelease`, ...). */
  sys?: string[];
}

const PERMISSION_KINDS = ["read", "write", "net", "env", "run", "sys"] as const;

/**
 * Checks a workflow's `permissions` declaration: an object whose only keys are `read`,
 * `write`, `net`, `env`, `run` and `sys`, each absent or a list of non-empty strings.
 * Plain code rather than a zod schema, so that neither the main thread nor a worker
 * imports zod to check it (about 15 ms of a `scheduler --once` start-up). Pure.
 * @param declared The declaration as the plugin exports it (`undefined` or `null`: none).
 * @returns The permissions, or every problem found, each prefixed with its path
 *   (`permissions.read.0: ...`).
 */
export function parsePermissions(
  declared: unknown,
): { ok: true; permissions: WorkflowPermissions } | { ok: false; issues: string[] } {
  if (declared === undefined || declared === null) return { ok: true, permissions: {} };
  if (typeof declared !== "object" || declared === null || Array.isArray(declared)) {
    return { ok: false, issues: ["permissions: expected an object"] };
  }
  const issues: string[] = [];
  const permissions: WorkflowPermissions = {};
  const fields = declared as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!(PERMISSION_KINDS as readonly string[]).includes(key)) {
      issues.push(`permissions: unknown key "${key}" (expected ${PERMISSION_KINDS.join(", ")})`);
    }
  }
  for (const kind of PERMISSION_KINDS) {
    const value = fields[kind];
    if (value === undefined) continue;
    if (!Array.isArray(value)) {
      issues.push(`permissions.${kind}: expected a list of strings`);
      continue;
    }
    value.forEach((item, i) => {
      if (typeof item !== "string" || item.length === 0) {
        issues.push(`permissions.${kind}.${i}: expected a non-empty string`);
      }
    });
    permissions[kind] = [...value];
  }
  return issues.length ? { ok: false, issues } : { ok: true, permissions };
}

/** The permissions object given to `new Worker(..., { deno: { permissions } })`. */
export interface WorkerPermissions {
  read: string[];
  write: string[] | false;
  net: string[] | false;
  env: string[] | false;
  run: string[] | false;
  sys: string[] | false;
  ffi: false;
  import: false;
}

/** A worker's permissions plus a stable key: workers are shared by workflows with the same key. */
export interface SandboxProfile {
  key: string;
  permissions: WorkerPermissions;
}

const KIND_FIELD: Record<string, keyof WorkflowPermissions> = {
  read: "read",
  write: "write",
  net: "net",
  env: "env",
  run: "run",
  sys: "sys",
};

/**
 * Rewrites Deno's permission denial (`Requires read access to "/x", run again with the
 * --allow-read flag`) into what a plugin author must do. Other messages pass unchanged.
 * @param workflow The workflow's name.
 * @param message The error message.
 * @returns The message to report.
 */
export function explainDenial(workflow: string, message: string): string {
  const m = /Requires (\w+) access to ([^,]+?)(?:, run again.*)?$/.exec(message);
  if (!m || !KIND_FIELD[m[1]]) return message;
  return `Workflow "${workflow}" needs ${m[1]} access to ${m[2]}: ` +
    `declare it in permissions.${KIND_FIELD[m[1]]}`;
}
