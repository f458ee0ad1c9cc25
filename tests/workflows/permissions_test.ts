import assert from "node:assert/strict";
import { explainDenial, sandboxProfile } from "../../src/workflows/permissions.ts";

Deno.test("sandboxProfile() resolves paths, adds base reads and keys equal declarations alike", () => {
  const a = sandboxProfile({ read: ["data"], env: ["B", "A"] }, {
    cwd: "/srv",
    baseRead: ["/orch"],
  });
  assert.deepEqual(a.permissions, {
    read: ["/orch", "/srv/data"],
    write: false,
    net: false,
    env: ["A", "B"],
    run: false,
    sys: false,
    ffi: false,
    import: false,
  });
  const b = sandboxProfile({ env: ["A", "B"], read: ["/srv/data"] }, {
    cwd: "/x",
    baseRead: ["/orch"],
  });
  assert.equal(a.key, b.key);
  const none = sandboxProfile(undefined, { cwd: "/x", baseRead: ["/orch"] });
  assert.deepEqual(none.permissions.read, ["/orch"]);
  assert.notEqual(none.key, a.key);
});

Deno.test("explainDenial() names the permission to declare", () => {
  assert.equal(
    explainDenial(
      "fetcher",
      'Requires net access to "example.com:443", run again with the --allow-net flag',
    ),
    'Workflow "fetcher" needs net access to "example.com:443": declare it in permissions.net',
  );
  assert.equal(explainDenial("w", "boom"), "boom");
});
