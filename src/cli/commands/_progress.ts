import type { RunEvent } from "../../store/events.ts";
import type { AppContext } from "../context.ts";
import { renderProgress } from "../render.ts";

/**
 * The `onEvent` of a run that prints progress lines on stderr (coloured on a terminal
 * unless NO_COLOR is set).
 * @param ctx The app context.
 * @param enabled False for `--json` / `--quiet`.
 * @returns The callback, or `undefined` when disabled.
 */
export function progressPrinter(
  ctx: AppContext,
  enabled: boolean,
): ((e: RunEvent) => void) | undefined {
  if (!enabled) return undefined;
  const color = ctx.io.isTty && !ctx.io.env.NO_COLOR;
  return (e) => {
    const line = renderProgress(e, color);
    if (line) ctx.io.stderr(line + "\n");
  };
}
