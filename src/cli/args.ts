import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./errors.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses a command's arguments strictly; `--help` is always accepted.
 * @param command The command name, for messages.
 * @param args The arguments after the command.
 * @param options The command's options (node:util parseArgs form).
 * @returns Values and positionals.
 * @throws {UsageError} On an unknown option or a missing value.
 */
export function parseCommandArgs(
  command: string,
  args: string[],
  options: Options,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    return {
      values: r.values as Record<string, string | boolean | undefined>,
      positionals: r.positionals,
    };
  } catch (err) {
    const msg = (err as Error).message.split("\n")[0].replace(/\. To specify a positional.*$/, "");
    throw new UsageError(msg, command);
  }
}
