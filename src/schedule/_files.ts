import { join } from "node:path";

/** Schedule files are the `*.yaml` and `*.yml` regular files of the directory. */
const SCHEDULE_FILE = /\.ya?ml$/;

/**
 * The schedule files of a directory, in file-name order (not recursive; symlinks and
 * other entries are not schedule files). Shared by the loader and the next-due index,
 * so both see the same set of files.
 * @param dir The schedules directory.
 * @returns Absolute paths, sorted by name.
 * @throws {Deno.errors.NotFound} When `dir` does not exist (and any other read error).
 */
export async function scheduleFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && SCHEDULE_FILE.test(e.name)) names.push(e.name);
  }
  return names.sort().map((n) => join(dir, n));
}
