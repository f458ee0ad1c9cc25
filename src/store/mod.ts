/**
 * Persistence: the event types, the append-only JSONL event log and the state store.
 * @module
 */
export * from "./events.ts";
export * from "./state_events.ts";
export { EventLog, LogWriteError } from "./event_log.ts";
