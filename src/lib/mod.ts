/**
 * Small shared building blocks: errors, clock, sleep, ids and suggestions.
 * @module
 */
export { OrchestratorError, type PlainError, toPlainError } from "./errors.ts";
export { type Clock, ManualClock, systemClock } from "./clock.ts";
export { type Sleep, sleep } from "./sleep.ts";
export { newRunId } from "./ids.ts";
export { isoTimestamp } from "./iso_time.ts";
export { editDistance, suggest } from "./suggest.ts";
