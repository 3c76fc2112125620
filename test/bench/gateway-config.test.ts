// The gateway benchmark (bench/gateway/) generates meshgate's configuration at run time.
// These tests build it with the harness's own PKI script (real openssl) and push it
// through the real pipeline, so the harness cannot drift from the schema or silently
// benchmark a gateway with its routing, TLS or policies switched off.

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { loadSources } from "../../src/config/index.js";
import { buildModel, type ModelResult } from "../../src/model/index.js";
import { translate } from "../../src/translate/index.js";
import { decodeResource } from "../../src/xds/envoy-protos.js";
import { buildSnapshots } from "../../src/xds/resources/build-snapshots.js";
import type { NodeSnapshot } from "../../src/xds/snapshot.js";
import { BACKEND_HOSTNAME, GATEWAY_NAME, NAMESPACE, RATE_LIMIT_PER_SECOND, ROUTE_HEADER, readBenchPki, writeGatewayBenchConfig } from "../../bench/gateway/gateway-config.js";
import { runCli, ROOT } from "../helpers/cli.js";
import { problemLines, statusOf } from "../helpers/model.js";
import { testCertificateSource } from "../xds/resources/fixtures.js";

const PORTS = { httpPort: 27130, httpsPort: 27131, backendHttpPort: 27001, backendMtlsPort: 27443 };
let work: string;
let pkiDir: string;
let configDir: string;
let result: ModelResult;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "meshgate-bench-gateway-test-"));
  pkiDir = join(work, "pki");
  configDir = join(work, "config");
  execFileSync("bash", [join(ROOT, "bench/gateway/pki.sh"), pkiDir], { stdio: "pipe" });
  writeGatewayBenchConfig(configDir, { pki: readBenchPki(pkiDir), address: "127.0.0.1", ...PORTS });
  const sources = await loadSources([configDir]);
  result = buildModel(sources.documents, sources.problems);
});

after(() => rmSync(work, { recursive: true, force: true }));

test("the generated gateway configuration has no problems at all (errors, warnings or infos)", () => {
  assert.deepEqual(problemLines(result), []);
  const gw = statusOf(result, "Gateway", NAMESPACE, GATEWAY_NAME);
  const accepted = gw.conditions.find((c: { type: string }) => c.type === "Accepted");
  assert.equal(accepted?.status, "True");
  assert.deepEqual(
    gw.listeners.map((l: { name: string; attachedRoutes: number }) => [l.name, l.attachedRoutes]),
    [["http", 1], ["https", 1]],
  );
  for (const [kind, name] of [["HTTPRoute", "plain"], ["HTTPRoute", "secure"], ["BackendTLSPolicy", "backend-mtls"], ["BackendTrafficPolicy", "gateway-limits"]] as const) {
    const s = statusOf(result, kind, NAMESPACE, name);
    const conditions = (s.parents ?? s.ancestors ?? [s]).flatMap((p: { conditions?: { type: string; status: string }[] }) => p.conditions ?? []);
    assert.ok(conditions.length > 0, `${kind} ${name} has conditions`);
    for (const c of conditions) assert.equal(c.status, "True", `${kind} ${name}: ${c.type} is ${c.status}`);
  }
});

test("the gateway gets both listeners on its address, TLS with h2, the rate limit filter, mTLS to the backend and the header rewrite", async () => {
  const { source } = await testCertificateSource();
  const snapshots = buildSnapshots(translate(result.model, 1), source);
  const node = snapshots.nodes.get(`gateway~${NAMESPACE}~${GATEWAY_NAME}`);
  assert.ok(node, "the gateway has its own snapshot");
  const all = (kind: keyof NodeSnapshot["resources"]) =>
    new Map([...node.resources[kind]].map(([name, r]) => [name, decodeResource(r.typeUrl, r.value) as any])); // eslint-disable-line @typescript-eslint/no-explicit-any

  const listeners = all("listener");
  const http = listeners.get(`127.0.0.1_${PORTS.httpPort}`);
  const https = listeners.get(`127.0.0.1_${PORTS.httpsPort}`);
  assert.ok(http && https, `listeners: ${[...listeners.keys()].join(", ")}`);
  const chain = https.filterChains[0];
  assert.deepEqual(chain.transportSocket.typedConfig.commonTlsContext.alpnProtocols, ["h2", "http/1.1"]);
  assert.deepEqual(chain.transportSocket.typedConfig.commonTlsContext.tlsCertificateSdsSecretConfigs.map((s: { name: string }) => s.name), [`${NAMESPACE}/gateway-cert`]);
  for (const l of [http, https]) {
    const filters = l.filterChains[0].filters[0].typedConfig.httpFilters.map((f: { name: string }) => f.name);
    assert.deepEqual(filters, ["envoy.filters.http.local_ratelimit", "envoy.filters.http.router"]);
  }

  const upstreamTls = [...all("cluster").values()].filter((c) => c.transportSocket);
  assert.equal(upstreamTls.length, 1, "one cluster with upstream TLS (the mTLS backend)");
  const tls = upstreamTls[0].transportSocket.typedConfig;
  assert.equal(tls.sni, BACKEND_HOSTNAME);
  assert.deepEqual(tls.commonTlsContext.tlsCertificateSdsSecretConfigs.map((s: { name: string }) => s.name), [`${NAMESPACE}/gateway-client`]);
  const endpoints = all("endpoint").get(upstreamTls[0].name);
  assert.deepEqual(endpoints.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress, { address: "127.0.0.1", portValue: PORTS.backendMtlsPort });

  const secrets = [...all("secret").keys()].sort();
  assert.deepEqual(secrets, [`ca/${NAMESPACE}/backend-mtls`, `${NAMESPACE}/gateway-cert`, `${NAMESPACE}/gateway-client`].sort());

  // The route the load hits (`/`): forwarded to the mTLS cluster, header set, rate limit counted.
  const table = [...all("route").values()].find((t) => t.name.endsWith(`|${PORTS.httpsPort}|https`));
  assert.ok(table, "the HTTPS listener's route table");
  const routes = table.virtualHosts[0].routes;
  assert.equal(routes.length, 3, "three rules: health, debug, catch-all");
  const catchAll = routes.find((r: { match: { prefix?: string } }) => r.match.prefix === "/");
  assert.equal(catchAll.route.cluster, upstreamTls[0].name);
  assert.deepEqual(catchAll.requestHeadersToAdd.map((h: { header: { key: string; value: string } }) => [h.header.key, h.header.value]), [[ROUTE_HEADER.name, ROUTE_HEADER.value]]);
  assert.deepEqual(catchAll.requestHeadersToRemove, ["x-internal-token"]);
  const bucket = catchAll.typedPerFilterConfig["envoy.filters.http.local_ratelimit"].descriptors[0].tokenBucket;
  assert.equal(bucket.maxTokens, RATE_LIMIT_PER_SECOND);
});

test("the generator's command line writes what `meshgate validate` accepts", async () => {
  const out = join(work, "cli-config");
  const gen = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "bench/gateway/gateway-config.ts"), "--pki", pkiDir, "--out", out,
    "--http-port", "28080", "--https-port", "28443", "--backend-http-port", "28001", "--backend-mtls-port", "28444"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(gen.status, 0, gen.stderr);
  assert.deepEqual(readdirSync(out).sort(), ["backends.yaml", "gateway.yaml", "routes.yaml"]);
  const v = await runCli(["validate", "--config", out]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /14 resources in 3 files: valid/);
});
