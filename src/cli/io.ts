/** Where the CLI writes and what it knows about its surroundings. Injected for tests. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** stderr is a terminal (progress may use colour). */
  isTty: boolean;
}

const encoder = new TextEncoder();

function writeAllSync(w: { writeSync(p: Uint8Array): number }, text: string): void {
  const buf = encoder.encode(text);
  let off = 0;
  while (off < buf.length) off += w.writeSync(buf.subarray(off));
}

/** @returns The process's real standard streams and environment. */
export function processIo(): CliIo {
  return {
    stdout: (t) => writeAllSync(Deno.stdout, t),
    stderr: (t) => writeAllSync(Deno.stderr, t),
    env: Deno.env.toObject(),
    cwd: Deno.cwd(),
    isTty: Deno.stderr.isTerminal(),
  };
}
