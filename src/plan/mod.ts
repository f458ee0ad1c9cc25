/**
 * Planning: the index form of a DAG, its topological order and cycle detection. Pure.
 * @module
 */
export { buildPlan, type Plan } from "./build_plan.ts";
export { findCycle } from "./find_cycle.ts";
