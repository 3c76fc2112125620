// referencedNames: the RDS, EDS and SDS names a proxy must subscribe to, read from the
// listener and cluster shapes the translator emits (every golden file), and from the
// shapes it does not emit but Envoy allows where a reference could hide.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { referencedNames } from "../../../src/proxy/xds/resource-set.js";
import type { EnvoyResource } from "../../../src/proxy/contracts.js";
import { ROOT } from "../../helpers/cli.js";

type GoldenNode = Partial<Record<"listener" | "route" | "cluster" | "endpoint" | "secret", Record<string, { value: EnvoyResource }>>>;
const GOLDEN = join(ROOT, "test/golden/xds");

function golden(file: string): Record<string, GoldenNode> {
  return (parse(readFileSync(join(GOLDEN, file), "utf8")) as { nodes: Record<string, GoldenNode> }).nodes;
}
const values = (m: Record<string, { value: EnvoyResource }> | undefined) => new Map(Object.entries(m ?? {}).map(([k, v]) => [k, v.value]));
const refsOf = (node: GoldenNode) => referencedNames({ listeners: values(node.listener), clusters: values(node.cluster) });

test("an HTTPS gateway refers to its listeners' route tables, its EDS clusters' load assignments and its certificates", () => {
  const gw = golden("https-listeners.out.yaml")["gateway~infra~gw"]!;
  assert.deepEqual(refsOf(gw), {
    route: Object.keys(gw.route!).sort(),
    endpoint: ["outbound|8080||app.infra.svc.cluster.local"],
    secret: ["infra/api-cert", "infra/shop-cert"],
  });
  assert.ok(refsOf(gw).route.includes("gateway|infra|gw|8443|shop"));
});

test("certificates and validation contexts in cluster transport sockets (combined validation context) and listener chains count", () => {
  const gw = golden("backend-tls-policy.out.yaml")["gateway~infra~gw"]!;
  const refs = refsOf(gw);
  assert.ok(refs.secret.includes("infra/gw-client"), refs.secret.join());
  assert.ok(refs.secret.includes("ca/infra/billing-tls"), refs.secret.join());
  const strict = refsOf(golden("sidecar-inbound-mtls-modes.out.yaml")["sidecar~apps~strict"]!);
  assert.deepEqual(strict.secret, ["ROOTCA", "default"]);
  // The proxyless client view: API listeners name their route tables.
  const client = golden("client-view.out.yaml")["*"]!;
  assert.ok(Object.values(client.listener!).some((l) => l.value.apiListener));
  assert.deepEqual(refsOf(client).route, Object.keys(client.route!).sort());
});

test("in every golden snapshot, each name referenced is a resource the same node receives", () => {
  let checked = 0;
  for (const file of readdirSync(GOLDEN).filter((f) => f.endsWith(".out.yaml"))) {
    for (const [nodeId, node] of Object.entries(golden(file))) {
      const refs = refsOf(node);
      for (const [kind, names] of Object.entries(refs) as [keyof typeof refs, string[]][]) {
        for (const name of names) {
          assert.ok(node[kind]?.[name], `${file} ${nodeId}: ${kind} ${name} is referenced but not served`);
          checked++;
        }
      }
    }
  }
  assert.ok(checked > 100, `only ${checked} references checked`);
});

test("EDS service names, default filter chains, transport socket matches; static clusters and secret configs without sdsConfig do not subscribe", () => {
  const tls = (secret: string, withSds = true) => ({
    name: "envoy.transport_sockets.tls",
    typedConfig: {
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
      commonTlsContext: { tlsCertificateSdsSecretConfigs: [{ name: secret, ...(withSds ? { sdsConfig: { ads: {} } } : {}) }] },
    },
  });
  const hcm = (route: string) => ({
    name: "envoy.filters.network.http_connection_manager",
    typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", rds: { routeConfigName: route } },
  });
  const validation = (field: "validationContextSdsSecretConfig" | "combinedValidationContext", secret: string) => ({
    typedConfig: {
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
      commonTlsContext: { [field]: field === "combinedValidationContext" ? { defaultValidationContext: {}, validationContextSdsSecretConfig: { name: secret, sdsConfig: { ads: {} } } } : { name: secret, sdsConfig: { ads: {} } } },
    },
  });
  const refs = referencedNames({
    listeners: new Map([
      ["l", { name: "l", filterChains: [{ filters: [hcm("r1")] }, { filters: [hcm("r1")], transportSocket: validation("validationContextSdsSecretConfig", "v1") }], defaultFilterChain: { filters: [hcm("r2")], transportSocket: tls("s1") } }],
      ["m", { name: "m", filterChains: [{ filters: [], transportSocket: validation("combinedValidationContext", "v2") }] }],
    ]),
    clusters: new Map<string, EnvoyResource>([
      ["a", { name: "a", type: "EDS", edsClusterConfig: { serviceName: "svc-a" } }],
      ["b", { name: "b", type: "EDS", transportSocketMatches: [{ transportSocket: tls("s2") }] }],
      ["c", { name: "c", type: "STATIC", transportSocket: tls("static-secret", false) }],
    ]),
  });
  assert.deepEqual(refs, { route: ["r1", "r2"], endpoint: ["b", "svc-a"], secret: ["s1", "s2", "v1", "v2"] });
});
