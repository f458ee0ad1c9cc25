/**
 * Small shared building blocks: errors, clock, sleep, ids, suggestions and hardened YAML parsing.
 * @module
 */
export { OrchestratorError, type PlainError, toPlainError } from "./errors.ts";
export { type Clock, ManualClock, systemClock } from "./clock.ts";
export { type Sleep, sleep } from "./sleep.ts";
export { newRunId } from "./ids.ts";
export { isoTimestamp } from "./iso_time.ts";
export { editDistance, suggest } from "./suggest.ts";
export {
  describeYamlError,
  MAX_YAML_ALIASES,
  MAX_YAML_FLOW_DEPTH,
  type ParsedYaml,
  parseYaml,
  type YamlProblem,
} from "./yaml.ts";
