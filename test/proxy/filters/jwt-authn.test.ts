// JWT authentication: RequestAuthentication through the translator to the proxy's
// jwt_authn filter, with real keys (jose), inline JWKS and a remote JWKS served by a local
// HTTP server (incl. key rotation), and the verified claims used by RBAC.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { compileHttpFilters, JWT_AUTHN_METADATA, JWT_MESSAGES } from "../../../src/proxy/filters/index.js";
import { ProxyFilterUnsupportedError } from "../../../src/errors.js";
import { GATEWAY_CLASS } from "../../helpers/model.js";
import { ctxOf, run, xdsOf, type RequestSpec } from "./helpers.js";

type Obj = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const ROUTER = { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const JWT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
const ISSUER = "https://idp.test";

interface Key {
  readonly kid: string;
  readonly alg: "ES256" | "RS256";
  readonly privateKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
  readonly jwk: JWK;
}

async function key(kid: string, alg: "ES256" | "RS256" = "ES256"): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

const jwks = (...keys: Key[]) => JSON.stringify({ keys: keys.map((k) => k.jwk) });

async function token(k: Key, claims: Obj = {}, opts: { iss?: string; aud?: string | string[]; exp?: number; nbf?: number; sub?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const t = new SignJWT({ ...claims })
    .setProtectedHeader({ alg: k.alg, kid: k.kid })
    .setIssuer(opts.iss ?? ISSUER)
    .setSubject(opts.sub ?? "alice")
    .setIssuedAt(now)
    .setExpirationTime(opts.exp ?? now + 300);
  if (opts.aud !== undefined) t.setAudience(opts.aud);
  if (opts.nbf !== undefined) t.setNotBefore(opts.nbf);
  return t.sign(k.privateKey);
}

const bearer = (t: string): RequestSpec => ({ headers: { authorization: `Bearer ${t}` } });

const k1 = await key("k1");
const rsa = await key("r1", "RS256");

function gatewayYaml(jwtRule: string, extra = ""): string {
  return `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: infra }
spec:
  gatewayClassName: meshgate
  listeners: [{ name: http, port: 8080, protocol: HTTP }]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: jwt, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: gw }]
  jwtRules:
${jwtRule}
${extra}`;
}

async function gatewayFilters(yaml: string, deps = {}) {
  const x = await xdsOf(yaml);
  return compileHttpFilters(x.httpFilters("gateway~infra~gw", "0.0.0.0_8080"), deps);
}

const inlineRule = `    - issuer: ${ISSUER}
      audiences: [shop]
      jwks: '${jwks(k1, rsa)}'
      outputPayloadToHeader: x-jwt-payload
      outputClaimToHeaders: [{ header: x-user, claim: sub }]`;

test("inline JWKS: valid tokens (ES256 and RS256) pass and write their payload; invalid ones get 401 like Envoy", async () => {
  const filters = await gatewayFilters(gatewayYaml(inlineRule));
  assert.deepEqual(filters.map((f) => f.name), ["envoy.filters.http.jwt_authn"]);
  const jwt = filters[0]!;

  for (const k of [k1, rsa]) {
    const t = await token(k, { groups: ["admin"] }, { aud: "shop" });
    const ctx = ctxOf(bearer(t));
    assert.deepEqual(await jwt.decode(ctx), { action: "continue" });
    const payload = ctx.metadata.get(JWT_AUTHN_METADATA)?.jwt_payload as Obj;
    assert.equal(payload.iss, ISSUER);
    assert.deepEqual(payload.groups, ["admin"]);
    assert.equal(ctx.headers["x-user"], "alice", "claim to header");
    assert.equal(ctx.headers["x-jwt-payload"], t.split(".")[1], "payload to header");
    assert.equal(ctx.headers.authorization, undefined, "the token is removed unless forwardOriginalToken");
    // The same token again: answered from the cache, synchronously.
    const again = ctxOf(bearer(t));
    const r = jwt.decode(again);
    assert.ok(!(r instanceof Promise), "a verified token is not verified again");
    assert.deepEqual(r, { action: "continue" });
    assert.equal((again.metadata.get(JWT_AUTHN_METADATA)?.jwt_payload as Obj).sub, "alice");
  }

  const now = Math.floor(Date.now() / 1000);
  const rejected = async (t: string, body: string) => {
    const r = (await jwt.decode(ctxOf({ ...bearer(t), path: "/a/b?q=1", authority: "shop.example" }))) as Obj;
    assert.equal(r.action, "respond");
    assert.equal(r.status, 401);
    assert.equal(r.body, body);
    assert.equal(r.headers["www-authenticate"], 'Bearer realm="http://shop.example/a/b", error="invalid_token"');
  };
  await rejected(await token(k1, {}, { aud: "shop", exp: now - 3600 }), JWT_MESSAGES.expired);
  await rejected(await token(k1, {}, { aud: "shop", nbf: now + 3600 }), JWT_MESSAGES.notYetValid);
  await rejected(await token(k1, {}, { aud: "shop", iss: "https://evil.test" }), JWT_MESSAGES.unknownIssuer);
  await rejected(await token(k1, {}, { aud: "other" }), JWT_MESSAGES.audience);
  await rejected(await token(k1, {}, {}), JWT_MESSAGES.audience);
  await rejected("not-a-jwt", JWT_MESSAGES.badFormat);
  // Signed by another key under a known kid: the signature does not verify.
  const impostor = { ...(await key("k1")) };
  await rejected(await token(impostor, {}, { aud: "shop" }), JWT_MESSAGES.verification);
  // A kid the inline set does not have.
  await rejected(await token(await key("k9"), {}, { aud: "shop" }), JWT_MESSAGES.noKey);
  // Within the clock skew (60 s) an expired token still passes.
  assert.deepEqual(await jwt.decode(ctxOf(bearer(await token(k1, {}, { aud: "shop", exp: now - 10 })))), { action: "continue" });
  // No token: RequestAuthentication lets the request on, unauthenticated.
  const anonymous = ctxOf();
  assert.deepEqual(jwt.decode(anonymous), { action: "continue" });
  assert.equal(anonymous.metadata.get(JWT_AUTHN_METADATA), undefined);
});

test("a missing token where one is required: 401 Jwt is missing", async () => {
  const filters = compileHttpFilters([
    {
      name: "envoy.filters.http.jwt_authn",
      typedConfig: {
        "@type": JWT_TYPE,
        providers: { p: { issuer: ISSUER, localJwks: { inlineString: jwks(k1) }, payloadInMetadata: "jwt_payload", forward: true } },
        rules: [
          { match: { prefix: "/public" } },
          { match: { prefix: "/" }, requires: { providerName: "p" } },
        ],
      },
    },
    ROUTER,
  ]);
  const r = await run(filters, ctxOf({ path: "/orders", authority: "shop.example", scheme: "https" }));
  assert.deepEqual(r, { action: "respond", status: 401, body: JWT_MESSAGES.missing, headers: { "www-authenticate": 'Bearer realm="https://shop.example/orders"' } });
  assert.deepEqual(await run(filters, ctxOf({ path: "/public/x" })), { action: "continue" }, "a rule without requires verifies nothing");
  const t = await token(k1);
  const ctx = ctxOf({ path: "/orders", ...bearer(t) });
  assert.deepEqual(await run(filters, ctx), { action: "continue" });
  assert.equal(ctx.headers.authorization, `Bearer ${t}`, "forward keeps the token");
  // The default places: Authorization Bearer and the access_token parameter.
  assert.deepEqual(await run(filters, ctxOf({ path: `/orders?access_token=${t}` })), { action: "continue" });
  const grpc = (await run(filters, ctxOf({ path: "/svc/Method", headers: { "content-type": "application/grpc" } }))) as Obj;
  assert.equal(grpc.headers["grpc-status"], "16", "UNAUTHENTICATED for gRPC");
});

test("token locations: headers with and without prefix, parameters, cookies", async () => {
  const t = await token(k1);
  const filters = compileHttpFilters([
    {
      name: "j",
      typedConfig: {
        "@type": JWT_TYPE,
        providers: {
          p: {
            issuer: ISSUER,
            localJwks: { inlineString: jwks(k1) },
            fromHeaders: [{ name: "X-Token" }, { name: "x-auth", valuePrefix: "Token " }],
            fromParams: ["jwt"],
            fromCookies: ["session"],
            payloadInMetadata: "jwt_payload",
          },
        },
        rules: [{ match: { prefix: "/" }, requires: { providerName: "p" } }],
      },
    },
    ROUTER,
  ]);
  for (const spec of [{ headers: { "x-token": t } }, { headers: { "x-auth": `Token ${t}` } }, { path: `/?a=1&jwt=${t}` }, { headers: { cookie: `a=b; session=${t}; c=d` } }]) {
    assert.deepEqual(await run(filters, ctxOf(spec)), { action: "continue" }, JSON.stringify(spec).slice(0, 60));
  }
  for (const spec of [bearer(t), { headers: { "x-auth": `Bearer ${t}` } }, { path: `/?token=${t}` }, { headers: { cookie: `other=${t}` } }]) {
    const r = (await run(filters, ctxOf(spec))) as Obj;
    assert.equal(r.status, 401, JSON.stringify(spec).slice(0, 60));
  }
});

interface JwksServer {
  readonly url: string;
  keys: string;
  hits: number;
  close(): Promise<void>;
}

async function jwksServer(initial: string): Promise<JwksServer> {
  const state = { keys: initial, hits: 0 };
  const server: Server = createServer((_req, res) => {
    state.hits++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(state.keys);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/keys`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}

const servers: JwksServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

test("remote JWKS: fetched once and cached, refetched when a token names a new key (rotation)", async () => {
  const server = await jwksServer(jwks(k1));
  servers.push(server);
  const filters = await gatewayFilters(gatewayYaml(`    - issuer: ${ISSUER}
      jwksUri: ${server.url}`));
  const jwt = filters[0]!;
  assert.equal(server.hits, 0, "fetched on first use");
  assert.deepEqual(await jwt.decode(ctxOf(bearer(await token(k1)))), { action: "continue" });
  assert.deepEqual(await jwt.decode(ctxOf(bearer(await token(k1, { n: 2 })))), { action: "continue" });
  assert.equal(server.hits, 1, "the key set is cached");

  // The identity provider rotates: k2 is added (and later k1 removed).
  const k2 = await key("k2");
  server.keys = jwks(k1, k2);
  assert.deepEqual(await jwt.decode(ctxOf(bearer(await token(k2)))), { action: "continue" });
  assert.equal(server.hits, 2, "an unknown kid makes the proxy fetch again");
  server.keys = jwks(k2);
  // Still within the cache duration: k1 tokens keep verifying against the cached set.
  assert.deepEqual(await jwt.decode(ctxOf(bearer(await token(k1, { n: 3 })))), { action: "continue" });

  // A kid the provider does not have either: refused, and not refetched again at once.
  const stranger = await key("k3");
  const r = (await jwt.decode(ctxOf(bearer(await token(stranger))))) as Obj;
  assert.equal(r.status, 401);
  assert.equal(r.body, JWT_MESSAGES.noKey);
  const hits = server.hits;
  await jwt.decode(ctxOf(bearer(await token(stranger, { n: 2 }))));
  assert.equal(server.hits, hits, "an unknown kid does not refetch on every request");
});

test("remote JWKS: cache duration and a fetch failure", async () => {
  const server = await jwksServer(jwks(k1));
  servers.push(server);
  const config = (uri: string) => ({
    name: "j",
    typedConfig: {
      "@type": JWT_TYPE,
      providers: { p: { issuer: ISSUER, remoteJwks: { httpUri: { uri, cluster: "jwks|x", timeout: { seconds: 1 } }, cacheDuration: { nanos: 100_000_000 } }, payloadInMetadata: "jwt_payload" } },
      rules: [{ match: { prefix: "/" }, requires: { requiresAny: { requirements: [{ providerName: "p" }, { allowMissing: {} }] } } }],
    },
  });
  const [jwt] = compileHttpFilters([config(server.url), ROUTER]);
  assert.deepEqual(await jwt!.decode(ctxOf(bearer(await token(k1)))), { action: "continue" });
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(await jwt!.decode(ctxOf(bearer(await token(k1, { n: 1 })))), { action: "continue" });
  assert.equal(server.hits, 2, "refetched after the cache duration");

  const dead = await jwksServer("");
  await dead.close();
  const [down] = compileHttpFilters([config(dead.url), ROUTER]);
  const r = (await down!.decode(ctxOf(bearer(await token(k1))))) as Obj;
  assert.equal(r.status, 401);
  assert.equal(r.body, JWT_MESSAGES.fetchFailed);
  assert.deepEqual(down!.decode(ctxOf()), { action: "continue" }, "no token: allowMissing");
});

test("claims written to metadata drive RBAC: requestPrincipals and claims conditions", async () => {
  const yaml = gatewayYaml(
    `    - issuer: ${ISSUER}
      jwks: '${jwks(k1)}'`,
    `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: admins, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: gw }]
  action: ALLOW
  rules:
    - from: [{ source: { requestPrincipals: ["${ISSUER}/*"] } }]
      when:
        - { key: "request.auth.claims[groups]", values: [admin] }
    - from: [{ source: { requestPrincipals: ["${ISSUER}/robot"] } }]
      to: [{ operation: { methods: [GET] } }]
`,
  );
  const filters = await gatewayFilters(yaml);
  assert.deepEqual(filters.map((f) => f.name), ["envoy.filters.http.jwt_authn", "envoy.filters.http.rbac.allow"]);
  const status = async (spec: RequestSpec) => {
    const r = await run(filters, ctxOf(spec));
    return r.action === "respond" ? r.status : 200;
  };
  assert.equal(await status(bearer(await token(k1, { groups: ["dev", "admin"] }))), 200);
  assert.equal(await status(bearer(await token(k1, { groups: "admin" }))), 200, "a claim holding one string");
  assert.equal(await status(bearer(await token(k1, { groups: ["dev"] }))), 403);
  assert.equal(await status({ ...bearer(await token(k1, {}, { sub: "robot" })), method: "GET" }), 200);
  assert.equal(await status({ ...bearer(await token(k1, {}, { sub: "robot" })), method: "POST" }), 403);
  assert.equal(await status({}), 403, "no token: no request principal");
  assert.equal(await status(bearer(await token(k1, { groups: ["admin"] }, { exp: Math.floor(Date.now() / 1000) - 3600 }))), 401, "an invalid token never reaches RBAC");
});

test("configs the proxy cannot honour are refused, naming the field", () => {
  const refuses = (typedConfig: Obj, pattern: RegExp) =>
    assert.throws(
      () => compileHttpFilters([{ name: "envoy.filters.http.jwt_authn", typedConfig: { "@type": JWT_TYPE, ...typedConfig } }, ROUTER]),
      (e: unknown) => e instanceof ProxyFilterUnsupportedError && pattern.test(e.message),
    );
  const p = { issuer: ISSUER, localJwks: { inlineString: jwks(k1) } };
  refuses({ providers: { p: { ...p, subjects: { exact: "x" } } } }, /jwt_authn: providers\.p\.subjects/);
  refuses({ providers: { p: { issuer: ISSUER, localJwks: { inlineString: "{nope" } } } }, /providers\.p\.localJwks: not a JWKS/);
  refuses({ providers: { p } , rules: [{ match: { prefix: "/" }, requires: { providerName: "q" } }] }, /rules\[0\]\.requires\.providerName: no provider "q"/);
  refuses({ providers: { p }, filterStateRules: {} }, /filterStateRules/);
  refuses({ providers: { p: { issuer: ISSUER, remoteJwks: { httpUri: { uri: "http://x/keys", cluster: "c" }, retryPolicy: {} } } } }, /remoteJwks\.retryPolicy/);
});
