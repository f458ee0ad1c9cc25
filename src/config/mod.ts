/**
 * The environment, read once into a frozen {@link Config}.
 * @module
 */
export { type Config, ConfigError, loadConfig, type Paths } from "./config.ts";
