/// <reference lib="deno.worker" />
// Worker of the floor dispatcher (bench/floors.ts): runs the no-op body for each task
// it is sent ({i, id, ups} or an array of them) and posts {i, out} back in the same form.
interface Msg {
  i: number;
  id: string;
  ups: { depth: number }[];
}

function noop(m: Msg): { i: number; out: { id: string; depth: number } } {
  let d = 0;
  for (const u of m.ups) if (u.depth > d) d = u.depth;
  return { i: m.i, out: { id: m.id, depth: d + 1 } };
}

self.onmessage = (e: MessageEvent<Msg | Msg[] | "ping">) => {
  const m = e.data;
  if (m === "ping") self.postMessage("pong");
  else if (Array.isArray(m)) self.postMessage(m.map(noop));
  else self.postMessage(noop(m));
};
