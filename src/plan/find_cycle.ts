/**
 * Finds one cycle in a dependency graph, if any.
 * @param dependsOn For each node index, the indexes it depends on.
 * @returns The cycle as node indexes in dependency direction, first repeated at the end
 *   (`[a, b, a]` means a depends on b and b on a), or `undefined` when acyclic.
 */
export function findCycle(dependsOn: readonly (readonly number[])[]): number[] | undefined {
  const n = dependsOn.length;
  const state = new Uint8Array(n); // 0 new, 1 on stack, 2 done
  const edge = new Int32Array(n);
  const stack: number[] = [];
  for (let root = 0; root < n; root++) {
    if (state[root] !== 0) continue;
    stack.push(root);
    state[root] = 1;
    while (stack.length > 0) {
      const v = stack[stack.length - 1];
      const deps = dependsOn[v];
      if (edge[v] < deps.length) {
        const w = deps[edge[v]++];
        if (state[w] === 1) return [...stack.slice(stack.indexOf(w)), w];
        if (state[w] === 0) {
          state[w] = 1;
          stack.push(w);
        }
      } else {
        state[v] = 2;
        stack.pop();
      }
    }
  }
  return undefined;
}
