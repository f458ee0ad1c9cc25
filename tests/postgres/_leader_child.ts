// One campaigning process for the leader tests. Prints one JSON line per change:
// {"started":pid}, {"acquired":epoch,"at":ms}, {"lost":reason,"at":ms}, and after a loss
// {"fenced":true|false} from a fenced write attempted with the old epoch.
// Usage: _leader_child.ts URL. SIGTERM stops it cleanly.
import {
  connectPostgres,
  FencedError,
  LeaderElection,
  parseStoreConfig,
  PostgresStateStore,
} from "../../src/store/postgres/mod.ts";

const config = parseStoreConfig(Deno.args[0]);
if (config.kind !== "postgres") throw new TypeError("postgres URL expected");
const print = (o: object) => console.log(JSON.stringify(o));
const sql = connectPostgres(config, { max: 1 });
let lastEpoch: number | null = null;
const election = new LeaderElection(config, {
  pollMs: 100,
  onAcquired: (epoch) => {
    lastEpoch = epoch;
    print({ acquired: epoch, at: Date.now() });
  },
  onLost: (reason) => {
    print({ lost: reason, at: Date.now() });
    const stale = { name: election.name, epoch: () => lastEpoch };
    const store = new PostgresStateStore(sql, { schema: config.schema, fence: stale });
    store.recordEvent({ event: "leader_write", epoch: lastEpoch }).then(
      () => print({ fenced: false }),
      (err) => print({ fenced: err instanceof FencedError }),
    );
  },
});
const stopped = Promise.withResolvers<void>();
Deno.addSignalListener("SIGTERM", () => stopped.resolve());
election.start();
print({ started: Deno.pid });
await stopped.promise;
await election.stop();
await sql.end();
