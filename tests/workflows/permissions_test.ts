import assert from "node:assert/strict";
import { explainDenial, parsePermissions } from "../../src/workflows/permissions.ts";
import { sandboxProfile } from "../../src/workflows/sandbox.ts";

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

Deno.test("parsePermissions() accepts declarations and names every problem by its path", async (t) => {
  await t.step("absent or null: no permissions", () => {
    assert.deepEqual(parsePermissions(undefined), { ok: true, permissions: {} });
    assert.deepEqual(parsePermissions(null), { ok: true, permissions: {} });
  });
  await t.step("lists of non-empty strings", () => {
    assert.deepEqual(parsePermissions({ read: ["./data"], net: ["example.com:443"], env: [] }), {
      ok: true,
      permissions: { read: ["./data"], net: ["example.com:443"], env: [] },
    });
  });
  const cases: [unknown, string[]][] = [
    ["all", ["permissions: expected an object"]],
    [["read"], ["permissions: expected an object"]],
    [{ read: "./data" }, ["permissions.read: expected a list of strings"]],
    [{ write: ["", 3] }, [
      "permissions.write.0: expected a non-empty string",
      "permissions.write.1: expected a non-empty string",
    ]],
    [{ ffi: ["x"], sys: ["hostname"] }, [
      'permissions: unknown key "ffi" (expected read, write, net, env, run, sys)',
    ]],
  ];
  for (const [declared, issues] of cases) {
    await t.step(`rejects ${JSON.stringify(declared)}`, () => {
      assert.deepEqual(parsePermissions(declared), { ok: false, issues });
    });
  }
});
