/**
 * Replaces a file whole: writes a temp file beside it and renames it over the file, so a
 * reader sees the old text or the new, never half of one. Concurrent writers: the last
 * rename wins. For caches, whose loss only costs work: a failure is reported, not thrown.
 * Imports nothing (no `node:path`), so the scheduler's quick paths can use it.
 * @param path The file.
 * @param text Its new contents.
 * @returns Whether the file was replaced.
 */
export async function replaceFile(path: string, text: string): Promise<boolean> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  try {
    const dir = path.slice(0, Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")));
    if (dir) await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
    return true;
  } catch {
    await Deno.remove(tmp).catch(() => {});
    return false;
  }
}
