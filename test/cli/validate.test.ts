import { test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../helpers/cli.js";

test("validate on the broken example prints file:line:column, resource and field path, and exits 1", async () => {
  const r = await runCli(["validate", "--config", "examples/broken"]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stdout.split("\n");
  const has = (text: string) => assert.ok(lines.some((l) => l.includes(text)), `missing line with: ${text}\n${r.stdout}`);
  has(`examples/broken/routes.yaml:15:13: error: HTTPRoute infra/reviews: spec.rules[0].matches[1].path.type: must be one of "Exact", "PathPrefix", "RegularExpression" (got "Prefix") [MG_SCHEMA]`);
  has(`examples/broken/routes.yaml:55:13: error: AuthorizationPolicy infra/admin-only: spec.rules[0].from[0].source.principal: unknown field "principal" (did you mean "principals"?)`);
  has(`examples/broken/gateway.yaml:26:13: error: Gateway infra/public: spec.listeners[1].tls.certificateRefs[0]: Secret infra/web-cert is not defined [MG_INVALID_CERTIFICATE_REF]`);
  has(`examples/broken/routes.yaml:29:7: error: HTTPRoute infra/details: spec.parentRefs[0].sectionName: Gateway infra/public has no listener named "https"`);
  assert.match(r.stdout, /INVALID \(5 errors\)\n$/);
});

test("validate on a valid configuration exits 0", async () => {
  const r = await runCli(["validate", "-c", "examples/bookinfo"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /: valid\n$/);
});

test("--output json is machine-readable and carries the same problems", async () => {
  const r = await runCli(["validate", "-c", "examples/broken/routes.yaml", "-c", "examples/broken/gateway.yaml", "--output", "json"]);
  assert.equal(r.code, 1);
  const report = JSON.parse(r.stdout);
  assert.equal(report.valid, false);
  assert.deepEqual(report.files, ["examples/broken/gateway.yaml", "examples/broken/routes.yaml"]);
  const schema = report.problems.find((p: { code: string }) => p.code === "MG_SCHEMA");
  assert.deepEqual(
    { file: schema.file, line: schema.line, column: schema.column, path: schema.path, resource: schema.resource },
    { file: "examples/broken/routes.yaml", line: 15, column: 13, path: "spec.rules[0].matches[1].path.type", resource: "HTTPRoute infra/reviews" },
  );
  assert.ok(report.resources.some((s: { kind: string; name: string }) => s.kind === "Gateway" && s.name === "public"));
});

test("--output yaml parses as YAML", async () => {
  const r = await runCli(["validate", "-c", "examples/bookinfo", "-o", "yaml"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^valid: true\n/);
});

test("usage errors exit 2: missing --config, unknown option, bad --output, a path that does not exist", async () => {
  for (const args of [["validate"], ["validate", "-c", "examples/bookinfo", "--frobnicate"], ["validate", "-c", "examples/bookinfo", "-o", "xml"], ["validate", "-c", "no/such/dir"], ["no-such-command"]]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.ok(r.stderr.length > 0, `${args.join(" ")} printed no error`);
  }
  const missing = await runCli(["validate", "-c", "no/such/dir"]);
  assert.match(missing.stderr, /configuration path not found: no\/such\/dir \[ERR_CONFIG_PATH_NOT_FOUND\]/);
});

test("--help shows an example and exits 0", async () => {
  const r = await runCli(["validate", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Example:\n  meshgate validate --config examples\/bookinfo/);
});
