// The floor of `scheduler --once`: a process that only imports the libraries orch's
// scheduler path imports, and uses each once so that nothing is skipped.
import { Cron } from "croner";
import { parse } from "yaml";
import { z } from "zod";

const ok = z.object({ a: z.number() }).safeParse(parse("a: 1")).success &&
  new Cron("* * * * *", { paused: true }).nextRun() !== null;
if (!ok) Deno.exit(1);
