// A leader that never notices it lost: campaigns, and once it leads writes a fenced
// `leader_write` state event every 200 ms with the epoch it first got, whatever happens
// to its session (a tick that was in flight when its host was cut off, committed when
// the link comes back). Prints one JSON line per change: {"acquired":epoch,"at":ms},
// {"lost":reason,"at":ms}, then {"write":seq,"result":"ok"|"fenced"|"error","at":ms}.
// Usage: _netns_stale_child.ts URL. SIGTERM stops it.
import {
  connectPostgres,
  FencedError,
  LeaderElection,
  parseStoreConfig,
  PostgresStateStore,
} from "../../src/store/postgres/mod.ts";

const config = parseStoreConfig(Deno.args[0]);
if (config.kind !== "postgres") throw new TypeError("postgres URL expected");
const print = (o: object) => console.log(JSON.stringify({ ...o, at: Date.now() }));
const sql = connectPostgres(config, { max: 1 });
const election = new LeaderElection(config, {
  pollMs: 100,
  onLost: (reason) => print({ lost: reason }),
});
const stopped = Promise.withResolvers<void>();
Deno.addSignalListener("SIGTERM", () => stopped.resolve());
const epoch = await election.waitForLeadership();
print({ acquired: epoch });
const store = new PostgresStateStore(sql, {
  schema: config.schema,
  fence: { name: election.name, epoch: () => epoch },
});
let stop = false;
stopped.promise.then(() => stop = true);
for (let seq = 1; !stop; seq++) {
  const result = await store.recordEvent({ event: "leader_write", epoch, seq }).then(
    () => "ok",
    (err) => err instanceof FencedError ? "fenced" : "error",
  );
  print({ write: seq, result });
  await Promise.race([stopped.promise, new Promise((r) => setTimeout(r, 200))]);
}
await election.stop();
await sql.end({ timeout: 0 });
