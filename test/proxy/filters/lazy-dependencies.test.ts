// The JOSE library and the gRPC client cost every gateway worker memory (~9 and ~20 MB);
// a proxy loads them only once a jwt_authn or a global ratelimit filter is compiled. A
// child process records every module it resolves (a module.register resolve hook), so
// the test sees what the data plane's imports pull in, not what this test process holds.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { MODULE_TRACE_PROLOGUE } from "../../helpers/module-trace.js";

const run = promisify(execFile);

const JWT = {
  name: "envoy.filters.http.jwt_authn",
  typedConfig: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
    providers: { p: { issuer: "https://issuer.example", localJwks: { inlineString: JSON.stringify({ keys: [] }) } } },
  },
};
const ROUTER = { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const GLOBAL_RATE_LIMIT = {
  name: "envoy.filters.http.ratelimit",
  typedConfig: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit",
    domain: "d",
    rateLimitService: { grpcService: { envoyGrpc: { clusterName: "rls" } }, transportApiVersion: "V3" },
  },
};

// `awaited` names the packages the filters load in the background: the child waits until it
// has seen them (a loaded CI machine can take seconds), then 300 ms more for anything else.
async function loadedWith(filters: readonly object[], awaited: readonly string[] = []): Promise<{ jose: boolean; grpc: boolean; protobufjs: boolean }> {
  const script = `${MODULE_TRACE_PROLOGUE}
    await import("./src/proxy/data-plane.ts");
    const { compileHttpFilters } = await import("./src/proxy/filters/index.ts");
    const filters = compileHttpFilters(${JSON.stringify([...filters, ROUTER])}, {});
    const has = (p) => seen.some((u) => u.includes("/node_modules/" + p + "/"));
    const deadline = Date.now() + 30_000;
    while (!${JSON.stringify(awaited)}.every(has) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    for (const f of filters) f.close?.();
    port1.close();
    process.stdout.write(JSON.stringify({ jose: has("jose"), grpc: has("@grpc/grpc-js"), protobufjs: has("protobufjs") }));
  `;
  const { stdout } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { timeout: 60_000 });
  return JSON.parse(stdout) as { jose: boolean; grpc: boolean; protobufjs: boolean };
}

test("a proxy without jwt_authn or global ratelimit filters loads neither jose nor the gRPC client", async () => {
  assert.deepEqual(await loadedWith([]), { jose: false, grpc: false, protobufjs: false });
});

test("compiling a jwt_authn filter loads jose; a global ratelimit filter loads the gRPC client", async () => {
  const jwt = await loadedWith([JWT], ["jose"]);
  assert.equal(jwt.jose, true);
  assert.equal(jwt.grpc, false);
  const rl = await loadedWith([GLOBAL_RATE_LIMIT], ["@grpc/grpc-js", "protobufjs"]);
  assert.deepEqual(rl, { jose: false, grpc: true, protobufjs: true });
});
