// AuthorizationPolicy end to end at the embedded gateway (targetRef Gateway), with Istio's
// semantics: every source, operation and condition field is exercised with one request
// the rule lets through and one it stops; then the evaluation order (DENY, then ALLOW,
// AUDIT never denies), rules without content, mesh-wide policies from the root namespace
// and the 403 body. One gateway serves every case; each case rewrites the policies.
//
// The clients: 127.0.0.1 and 127.0.0.2 (both loopback, so ipBlocks can tell them apart),
// JWTs signed here and verified by a RequestAuthentication with an inline JWKS (request
// principals and claims), an HTTPS listener for connection.sni. Without a client
// certificate a gateway's peer has no principal and no namespace: as in Istio, `principals`,
// `namespaces`, `source.principal` and `source.namespace` then never match and their `not*`
// forms always do.

import { test } from "node:test";
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { Agent, request, type Dispatcher } from "undici";
import { serviceYaml, startEcho, type EchoBackend } from "../helpers/echo-backend.js";
import { freePort, GATEWAY_CLASS, startGatewayHarness } from "../helpers/gateway-harness.js";
import { createTestPki, tlsSecretYaml, type Leaf } from "../helpers/test-pki.js";

const ISSUER = "https://idp.test";

interface Ports {
  readonly main: number;
  readonly alt: number;
  readonly tls: number;
}

interface Req {
  readonly path?: string;
  readonly method?: string;
  readonly host?: string;
  readonly headers?: Record<string, string>;
  /** Send from 127.0.0.2 instead of 127.0.0.1. */
  readonly fromTwo?: boolean;
  readonly port?: "main" | "alt";
  /** Over HTTPS, with this SNI. */
  readonly sni?: string;
  readonly token?: "alice" | "bob";
}

interface Case {
  readonly name: string;
  /** AuthorizationPolicy specs (YAML flow maps), in namespace infra targeting the gateway unless `namespace` says otherwise. */
  readonly policies: readonly (string | { readonly namespace: string; readonly spec: string })[];
  readonly allowed: readonly Req[];
  readonly denied: readonly Req[];
}

const keys = await generateKeyPair("ES256");
const jwk = { ...(await exportJWK(keys.publicKey)), kid: "k1", alg: "ES256", use: "sig" };

async function sign(sub: string, claims: Record<string, unknown>, aud: string, azp: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ...claims, azp })
    .setProtectedHeader({ alg: "ES256", kid: "k1" })
    .setIssuer(ISSUER)
    .setSubject(sub)
    .setAudience(aud)
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(keys.privateKey);
}

const TOKENS = {
  alice: await sign("alice", { groups: ["admins", "dev"], org: { role: "reader", level: "gold" } }, "api", "web-client"),
  bob: await sign("bob", { groups: ["guests"], org: { role: "writer", level: "silver" } }, "other-api", "cli"),
};

function policyYaml(p: Case["policies"][number], i: number): string {
  const { namespace, spec } = typeof p === "string" ? { namespace: "infra", spec: p } : p;
  const target = namespace === "infra" ? `\n  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]` : "";
  return `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: p${i}, namespace: ${namespace} }
spec:${target}
  ${spec}
`;
}

function config(ports: Ports, cert: Leaf, backend: EchoBackend, policies: Case["policies"]): string {
  return `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec:
  gatewayClassName: meshgate
  addresses: [{ type: IPAddress, value: 127.0.0.1 }]
  listeners:
    - { name: main, port: ${ports.main}, protocol: HTTP }
    - { name: alt, port: ${ports.alt}, protocol: HTTP }
    - { name: tls, port: ${ports.tls}, protocol: HTTPS, hostname: "*.sni.example", tls: { certificateRefs: [{ name: wildcard }] } }
${tlsSecretYaml("infra", "wildcard", cert)}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: all, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules: [{ backendRefs: [{ name: echo, port: 80 }] }]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: jwt, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  jwtRules: [{ issuer: "${ISSUER}", jwks: ${JSON.stringify(JSON.stringify({ keys: [jwk] }))} }]
${policies.map(policyYaml).join("")}${serviceYaml("infra", "echo", 80, [backend])}`;
}

// A rule `{ from: [{ source: X }] }` etc., written compactly.
const from = (source: string) => `rules: [{ from: [{ source: { ${source} } }] }]`;
const to = (operation: string) => `rules: [{ to: [{ operation: { ${operation} } }] }]`;
const when = (condition: string) => `rules: [{ when: [{ ${condition} }] }]`;
const allow = (rules: string) => `action: ALLOW\n  ${rules}`;
const deny = (rules: string) => `action: DENY\n  ${rules}`;

const alice: Req = { token: "alice" };
const bob: Req = { token: "bob" };
const anon: Req = {};
const two: Req = { fromTwo: true };

function cases(ports: Ports): Case[] {
  return [
    // ---- from.source -------------------------------------------------------------
    { name: "principals: a peer without a client certificate has none", policies: [allow(from(`principals: ["*"]`))], allowed: [], denied: [anon, alice] },
    { name: "principals (exact): no principal never matches", policies: [allow(from(`principals: ["cluster.local/ns/infra/sa/client"]`))], allowed: [], denied: [anon] },
    { name: "notPrincipals: no principal is not any of them", policies: [allow(from(`notPrincipals: ["*"]`))], allowed: [anon, alice], denied: [] },
    { name: "notPrincipals in a DENY: stops the peer without a principal", policies: [deny(from(`notPrincipals: ["cluster.local/ns/infra/sa/client"]`))], allowed: [], denied: [anon] },
    { name: "requestPrincipals (exact)", policies: [allow(from(`requestPrincipals: ["${ISSUER}/alice"]`))], allowed: [alice], denied: [bob, anon] },
    { name: "requestPrincipals (* = any valid token)", policies: [allow(from(`requestPrincipals: ["*"]`))], allowed: [alice, bob], denied: [anon] },
    { name: "requestPrincipals (prefix and suffix)", policies: [allow(from(`requestPrincipals: ["${ISSUER}/ali*", "*/bob"]`))], allowed: [alice, bob], denied: [anon] },
    { name: "notRequestPrincipals", policies: [allow(from(`notRequestPrincipals: ["${ISSUER}/bob"]`))], allowed: [alice, anon], denied: [bob] },
    { name: "notRequestPrincipals * in a DENY: a token is required", policies: [deny(from(`notRequestPrincipals: ["*"]`))], allowed: [alice, bob], denied: [anon] },
    { name: "namespaces: a peer without a client certificate has no namespace", policies: [allow(from(`namespaces: ["infra", "*"]`))], allowed: [], denied: [anon] },
    { name: "notNamespaces", policies: [allow(from(`notNamespaces: ["infra"]`))], allowed: [anon], denied: [] },
    { name: "ipBlocks (address and CIDR)", policies: [allow(from(`ipBlocks: ["127.0.0.1", "10.0.0.0/8"]`))], allowed: [anon], denied: [two] },
    { name: "notIpBlocks", policies: [allow(from(`notIpBlocks: ["127.0.0.2/32"]`))], allowed: [anon], denied: [two] },
    {
      name: "remoteIpBlocks: the connection's peer (no trusted proxies), never a client-written x-forwarded-for",
      policies: [allow(from(`remoteIpBlocks: ["127.0.0.1/32"]`))],
      allowed: [anon, { headers: { "x-forwarded-for": "10.9.9.9" } }],
      denied: [two, { fromTwo: true, headers: { "x-forwarded-for": "127.0.0.1" } }],
    },
    { name: "notRemoteIpBlocks", policies: [allow(from(`notRemoteIpBlocks: ["127.0.0.2"]`))], allowed: [anon], denied: [two] },
    // ---- to.operation -------------------------------------------------------------
    {
      name: "hosts (exact, case-insensitive, prefix, suffix)",
      policies: [allow(to(`hosts: ["a.example", "api.*", "*.wild.example"]`))],
      allowed: [{ host: "a.example" }, { host: "A.Example" }, { host: "api.internal" }, { host: "x.wild.example" }],
      denied: [{ host: "b.example" }, { host: "wild.example" }],
    },
    { name: "notHosts", policies: [allow(to(`notHosts: ["b.example"]`))], allowed: [{ host: "a.example" }], denied: [{ host: "b.example" }] },
    { name: "methods", policies: [allow(to(`methods: ["GET", "HEAD"]`))], allowed: [{ method: "GET" }, { method: "HEAD" }], denied: [{ method: "POST" }, { method: "DELETE" }] },
    { name: "notMethods", policies: [allow(to(`notMethods: ["DELETE"]`))], allowed: [{ method: "GET" }], denied: [{ method: "DELETE" }] },
    {
      name: "paths (exact, prefix, suffix; the query is not part of the path)",
      policies: [allow(to(`paths: ["/exact", "/pre/*", "*.png"]`))],
      allowed: [{ path: "/exact" }, { path: "/exact?q=1" }, { path: "/pre/x/y" }, { path: "/img/a.png" }],
      denied: [{ path: "/exact/more" }, { path: "/pre" }, { path: "/a.png.txt" }, { path: "/other" }],
    },
    { name: "paths * (any path)", policies: [allow(to(`paths: ["*"]`))], allowed: [{ path: "/" }, { path: "/x" }], denied: [] },
    { name: "notPaths", policies: [allow(to(`notPaths: ["/admin*"]`))], allowed: [{ path: "/public" }], denied: [{ path: "/admin" }, { path: "/admin/x" }] },
    { name: "ports: the port the gateway accepted the request on", policies: [allow(to(`ports: ["${ports.alt}"]`))], allowed: [{ port: "alt" }], denied: [{ port: "main" }] },
    { name: "notPorts", policies: [allow(to(`notPorts: ["${ports.alt}"]`))], allowed: [{ port: "main" }], denied: [{ port: "alt" }] },
    // ---- when ---------------------------------------------------------------------
    { name: "when request.auth.claims[groups] (a list claim)", policies: [allow(when(`key: "request.auth.claims[groups]", values: ["admins"]`))], allowed: [alice], denied: [bob, anon] },
    { name: "when request.auth.claims nested", policies: [allow(when(`key: "request.auth.claims[org][role]", values: ["read*"]`))], allowed: [alice], denied: [bob, anon] },
    { name: "when request.auth.claims notValues", policies: [allow(when(`key: "request.auth.claims[groups]", notValues: ["guests"]`))], allowed: [alice, anon], denied: [bob] },
    { name: "when request.auth.principal", policies: [allow(when(`key: request.auth.principal, values: ["${ISSUER}/alice"]`))], allowed: [alice], denied: [bob, anon] },
    { name: "when request.auth.principal notValues", policies: [allow(when(`key: request.auth.principal, notValues: ["${ISSUER}/alice"]`))], allowed: [bob, anon], denied: [alice] },
    { name: "when request.auth.audiences", policies: [allow(when(`key: request.auth.audiences, values: ["api"]`))], allowed: [alice], denied: [bob, anon] },
    { name: "when request.auth.audiences notValues", policies: [allow(when(`key: request.auth.audiences, notValues: ["api"]`))], allowed: [bob], denied: [alice] },
    { name: "when request.auth.presenter", policies: [allow(when(`key: request.auth.presenter, values: ["web-*"]`))], allowed: [alice], denied: [bob, anon] },
    { name: "when request.auth.presenter notValues", policies: [allow(when(`key: request.auth.presenter, notValues: ["cli"]`))], allowed: [alice], denied: [bob] },
    {
      name: "when request.headers (exact, prefix, suffix)",
      policies: [allow(when(`key: "request.headers[X-Team]", values: ["blue", "gr*", "*-ops"]`))],
      allowed: [{ headers: { "x-team": "blue" } }, { headers: { "x-team": "green" } }, { headers: { "x-team": "sec-ops" } }],
      denied: [{ headers: { "x-team": "red" } }, anon],
    },
    { name: "when request.headers * (present)", policies: [allow(when(`key: "request.headers[x-team]", values: ["*"]`))], allowed: [{ headers: { "x-team": "any" } }], denied: [anon] },
    { name: "when request.headers notValues", policies: [allow(when(`key: "request.headers[x-team]", notValues: ["red"]`))], allowed: [{ headers: { "x-team": "blue" } }, anon], denied: [{ headers: { "x-team": "red" } }] },
    { name: "when source.ip", policies: [allow(when(`key: source.ip, values: ["127.0.0.1/32"]`))], allowed: [anon], denied: [two] },
    { name: "when source.ip notValues", policies: [allow(when(`key: source.ip, notValues: ["127.0.0.2"]`))], allowed: [anon], denied: [two] },
    { name: "when remote.ip", policies: [allow(when(`key: remote.ip, values: ["127.0.0.1"]`))], allowed: [anon], denied: [two, { fromTwo: true, headers: { "x-forwarded-for": "127.0.0.1" } }] },
    { name: "when remote.ip notValues", policies: [allow(when(`key: remote.ip, notValues: ["127.0.0.2"]`))], allowed: [anon], denied: [two] },
    { name: "when source.principal: none without a client certificate", policies: [allow(when(`key: source.principal, values: ["*"]`))], allowed: [], denied: [anon] },
    { name: "when source.principal notValues", policies: [allow(when(`key: source.principal, notValues: ["cluster.local/ns/infra/sa/client"]`))], allowed: [anon], denied: [] },
    { name: "when source.namespace: none without a client certificate", policies: [allow(when(`key: source.namespace, values: ["infra"]`))], allowed: [], denied: [anon] },
    { name: "when source.namespace notValues", policies: [allow(when(`key: source.namespace, notValues: ["infra"]`))], allowed: [anon], denied: [] },
    { name: "when destination.port", policies: [allow(when(`key: destination.port, values: ["${ports.alt}"]`))], allowed: [{ port: "alt" }], denied: [{ port: "main" }] },
    { name: "when destination.port notValues", policies: [allow(when(`key: destination.port, notValues: ["${ports.alt}"]`))], allowed: [{ port: "main" }], denied: [{ port: "alt" }] },
    { name: "when connection.sni", policies: [allow(when(`key: connection.sni, values: ["secure.sni.example"]`))], allowed: [{ sni: "secure.sni.example" }], denied: [{ sni: "other.sni.example" }, anon] },
    { name: "when connection.sni notValues", policies: [allow(when(`key: connection.sni, notValues: ["other.*"]`))], allowed: [{ sni: "secure.sni.example" }], denied: [{ sni: "other.sni.example" }] },
    // ---- rule structure ------------------------------------------------------------
    {
      name: "inside an operation fields AND; operations OR",
      policies: [allow(`rules: [{ to: [{ operation: { methods: ["GET"], paths: ["/a"] } }, { operation: { methods: ["POST"], paths: ["/b"] } }] }]`)],
      allowed: [{ method: "GET", path: "/a" }, { method: "POST", path: "/b" }],
      denied: [{ method: "POST", path: "/a" }, { method: "GET", path: "/b" }],
    },
    {
      name: "from AND to AND when; conditions AND; sources OR",
      policies: [
        allow(
          `rules: [{ from: [{ source: { requestPrincipals: ["*"] } }, { source: { ipBlocks: ["127.0.0.2"] } }], to: [{ operation: { paths: ["/a"] } }], when: [{ key: "request.headers[x-a]", values: ["1"] }, { key: "request.headers[x-b]", values: ["1"] }] }]`,
        ),
      ],
      allowed: [
        { token: "alice", path: "/a", headers: { "x-a": "1", "x-b": "1" } },
        { fromTwo: true, path: "/a", headers: { "x-a": "1", "x-b": "1" } },
      ],
      denied: [{ path: "/a", headers: { "x-a": "1", "x-b": "1" } }, { token: "alice", path: "/b", headers: { "x-a": "1", "x-b": "1" } }, { token: "alice", path: "/a", headers: { "x-a": "1" } }],
    },
    { name: "rules OR", policies: [allow(`rules: [{ to: [{ operation: { paths: ["/a"] } }] }, { to: [{ operation: { paths: ["/b"] } }] }]`)], allowed: [{ path: "/a" }, { path: "/b" }], denied: [{ path: "/c" }] },
    // ---- evaluation order ------------------------------------------------------------
    { name: "no policy: everything allowed", policies: [], allowed: [anon, two], denied: [] },
    { name: "a DENY that does not match and no ALLOW: allowed", policies: [deny(to(`paths: ["/admin"]`))], allowed: [{ path: "/x" }], denied: [{ path: "/admin" }] },
    {
      name: "DENY wins over a matching ALLOW",
      policies: [allow(`rules: [{}]`), deny(to(`paths: ["/admin"]`))],
      allowed: [{ path: "/x" }],
      denied: [{ path: "/admin" }],
    },
    {
      name: "an ALLOW applies: only what some ALLOW matches passes",
      policies: [allow(to(`paths: ["/a"]`)), allow(to(`paths: ["/b"]`))],
      allowed: [{ path: "/a" }, { path: "/b" }],
      denied: [{ path: "/c" }],
    },
    { name: "AUDIT never denies", policies: [`action: AUDIT\n  rules: [{}]`], allowed: [anon, { path: "/admin" }], denied: [] },
    { name: "AUDIT does not allow either", policies: [`action: AUDIT\n  rules: [{ to: [{ operation: { paths: ["/b"] } }] }]`, allow(to(`paths: ["/a"]`))], allowed: [{ path: "/a" }], denied: [{ path: "/b" }] },
    // ---- empty rules -----------------------------------------------------------------
    { name: "ALLOW with an empty rule allows everything", policies: [allow(`rules: [{}]`)], allowed: [anon, two, { method: "DELETE", path: "/z" }], denied: [] },
    { name: "ALLOW without rules denies everything", policies: [`action: ALLOW`], allowed: [], denied: [anon, alice] },
    { name: "DENY without rules denies nothing", policies: [`action: DENY`], allowed: [anon], denied: [] },
    { name: "DENY with an empty rule denies everything", policies: [deny(`rules: [{}]`)], allowed: [], denied: [anon, alice] },
    { name: "a policy without action is an ALLOW", policies: [to(`paths: ["/a"]`)], allowed: [{ path: "/a" }], denied: [{ path: "/b" }] },
    // ---- root namespace ----------------------------------------------------------------
    {
      name: "a root-namespace policy without selector applies to the gateway",
      policies: [{ namespace: "istio-system", spec: deny(to(`paths: ["/root-denied"]`)) }],
      allowed: [{ path: "/x" }],
      denied: [{ path: "/root-denied" }],
    },
    {
      name: "root-namespace policies combine with the gateway's own",
      policies: [{ namespace: "istio-system", spec: allow(to(`paths: ["/a"]`)) }, allow(to(`paths: ["/b"]`))],
      allowed: [{ path: "/a" }, { path: "/b" }],
      denied: [{ path: "/c" }],
    },
    {
      name: "a root-namespace policy with a selector applies to the gateways it selects",
      policies: [{ namespace: "istio-system", spec: `selector: { matchLabels: { gateway.networking.k8s.io/gateway-name: edge } }\n  ${deny(to(`paths: ["/sel"]`))}` }, { namespace: "istio-system", spec: `selector: { matchLabels: { gateway.networking.k8s.io/gateway-name: other } }\n  ${deny(to(`paths: ["/x"]`))}` }],
      allowed: [{ path: "/x" }],
      denied: [{ path: "/sel" }],
    },
  ];
}

test("AuthorizationPolicy at the gateway: every field allows and denies with Istio's semantics", async (t) => {
  const pki = createTestPki("authz");
  t.after(() => pki.close());
  const cert = pki.leaf("wildcard", "DNS:*.sni.example", "serverAuth");
  const backend = await startEcho(t, "echo");
  const ports: Ports = { main: await freePort(), alt: await freePort(), tls: await freePort() };
  const h = await startGatewayHarness(t, { gateway: "infra/edge", yaml: config(ports, cert, backend, []) });

  // A fresh connection per request: the listeners are rebuilt at every config change.
  const agents = new Map<string, Agent>();
  const agent = (key: string, make: () => Agent) => agents.get(key) ?? (agents.set(key, make()), agents.get(key)!);
  t.after(() => Promise.all([...agents.values()].map((a) => a.close())));
  const dispatcher = (r: Req): Dispatcher =>
    r.sni
      ? agent(`tls ${r.sni}`, () => new Agent({ connect: { ca: pki.root, servername: r.sni! } }))
      : agent(r.fromTwo ? "two" : "one", () => new Agent({ localAddress: r.fromTwo ? "127.0.0.2" : "127.0.0.1" }));

  async function send(r: Req): Promise<{ status: number; body: string }> {
    const port = r.sni ? ports.tls : r.port === "alt" ? ports.alt : ports.main;
    const headers: Record<string, string> = { ...(r.headers ?? {}), host: r.host ?? r.sni ?? "gw.example" };
    if (r.token) headers.authorization = `Bearer ${TOKENS[r.token]}`;
    const res = await request(`${r.sni ? "https" : "http"}://127.0.0.1:${port}${r.path ?? "/"}`, { method: (r.method ?? "GET") as "GET", headers, dispatcher: dispatcher(r), reset: true });
    return { status: res.statusCode, body: await res.body.text() };
  }

  const failures: string[] = [];
  for (const c of cases(ports)) {
    try {
      await h.write(config(ports, cert, backend, c.policies));
    } catch (e) {
      const problems = h.logs.filter((l) => /"level":(40|50)/.test(l)).slice(-3);
      throw new Error(`${c.name}: ${(e as Error).message}\n${problems.join("\n")}`);
    }
    for (const [want, reqs] of [[200, c.allowed], [403, c.denied]] as const) {
      for (const r of reqs) {
        const got = await send(r);
        if (got.status !== want) failures.push(`${c.name}: ${JSON.stringify(r)} -> ${got.status} (want ${want}) ${got.body.slice(0, 80)}`);
        else if (want === 403 && got.body !== "RBAC: access denied") failures.push(`${c.name}: ${JSON.stringify(r)} -> 403 with body ${JSON.stringify(got.body)}`);
      }
    }
  }
  assert.deepEqual(failures, []);
});
