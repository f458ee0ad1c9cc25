/** Builds DAG YAML for tests. */
export interface TaskYaml {
  id: string;
  workflow_ref: string;
  params?: Record<string, unknown>;
  retries?: number;
  retry_delay_s?: number;
  timeout_s?: number;
  depends_on?: string[];
}

/**
 * @param name The DAG name.
 * @param tasks The tasks.
 * @returns YAML text (JSON is valid YAML).
 */
export function dagYaml(name: string, tasks: TaskYaml[]): string {
  return JSON.stringify({ name, tenant_id: "test", tasks }, null, 2);
}
