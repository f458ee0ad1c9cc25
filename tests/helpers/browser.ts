/** Shared pieces of the chromium tests (playwright-core driving Debian's chromium). */
import type { Page } from "playwright-core";

/** Debian's chromium; .ci/run installs it. */
export const CHROMIUM = "/usr/bin/chromium";

/** Whether chromium is installed; browser tests are ignored without it. */
export const HAS_CHROMIUM = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

const ARTIFACTS = new URL("../artifacts/", import.meta.url);

/**
 * Saves a full-page screenshot to tests/artifacts/ (git-ignored).
 * @param page The page.
 * @param name File name, e.g. `runs.png`.
 */
export async function shot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: new URL(name, ARTIFACTS).pathname, fullPage: true });
}

/**
 * @param page A run page.
 * @returns The status of each graph node by task id.
 */
export function nodeStatuses(page: Page): Promise<Record<string, string>> {
  return page.$$eval("svg.graph g.node", (els) =>
    Object.fromEntries(
      els.map((e) => [e.getAttribute("data-task-id"), e.getAttribute("data-status")]),
    ));
}
