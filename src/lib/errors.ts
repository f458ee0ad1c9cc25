/**
 * Base error of orch. Every error a user can cause extends it, carries a stable
 * `code`, an optional `hint` that says what to do, and the data of the failure.
 * `main.ts` maps these to exit codes and prints `name: message`, never a stack.
 */
export class OrchestratorError extends Error {
  /** Stable machine-readable code, e.g. `dag_invalid`. */
  readonly code: string;
  /** What the user should do about it, when that is not obvious from the message. */
  readonly hint?: string;
  /** Process exit code this error maps to (2 invalid input, 1 run failed, 3 locked, 4 internal). */
  readonly exitCode: number;

  /**
   * @param message Sentence-case description of what failed.
   * @param options code, exit code, hint and cause.
   */
  constructor(
    message: string,
    options: { code: string; exitCode?: number; hint?: string; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = "OrchestratorError";
    this.code = options.code;
    this.exitCode = options.exitCode ?? 2;
    this.hint = options.hint;
  }
}

/** Plain form of an error that can cross a worker boundary or land in a JSON log. */
export interface PlainError {
  name: string;
  message: string;
  stack?: string;
}

/**
 * Turns anything thrown into a {@link PlainError}.
 * @param err The thrown value.
 * @returns A structured-cloneable object with name and message.
 */
export function toPlainError(err: unknown): PlainError {
  if (err instanceof Error) {
    return { name: err.name, message: err.message, stack: err.stack };
  }
  if (err && typeof err === "object" && "message" in err) {
    const o = err as { name?: unknown; message: unknown };
    return { name: String(o.name ?? "Error"), message: String(o.message) };
  }
  return { name: "Error", message: String(err) };
}
