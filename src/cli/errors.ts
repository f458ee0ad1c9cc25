import { OrchestratorError } from "../lib/errors.ts";

/** Wrong command-line usage: unknown command or option, missing argument. */
export class UsageError extends OrchestratorError {
  /**
   * @param message What is wrong.
   * @param command The command whose help to point at.
   */
  constructor(message: string, command?: string) {
    super(message, {
      code: "usage",
      exitCode: 2,
      hint: `Run 'orch ${command ? command + " " : ""}--help' for usage`,
    });
    this.name = "UsageError";
  }
}
