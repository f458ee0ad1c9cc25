/** orch's version, printed by `--version` and part of cached validation verdicts. */
export const VERSION = "0.1.0";
