import { test } from "node:test";
import assert from "node:assert/strict";
import { GATEWAY_CLASS, modelOf, problemLines, statusOf } from "../../helpers/model.js";

const PEM = "-----BEGIN CERTIFICATE-----\\nx\\n-----END CERTIFICATE-----";

const gw = (frontend: string) => `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec:
  gatewayClassName: meshgate
  listeners:
    - { name: a, port: 443, protocol: HTTPS, hostname: a.test, tls: { certificateRefs: [{ name: cert }] } }
    - { name: b, port: 443, protocol: HTTPS, hostname: b.test, tls: { certificateRefs: [{ name: cert }] } }
    - { name: c, port: 8443, protocol: HTTPS, tls: { certificateRefs: [{ name: cert }] } }
    - { name: plain, port: 80, protocol: HTTP }
  tls:
    frontend:
${frontend}---
apiVersion: v1
kind: Secret
metadata: { name: cert, namespace: infra }
type: kubernetes.io/tls
stringData: { tls.crt: "${PEM}", tls.key: "-----BEGIN PRIVATE KEY-----\\nx\\n-----END PRIVATE KEY-----" }
`;

const configMap = (ns: string, name: string, pem = PEM) => `---
apiVersion: v1
kind: ConfigMap
metadata: { name: ${name}, namespace: ${ns} }
data: { ca.crt: "${pem}" }
`;

const conds = (cs: { type: string; status: string; reason: string }[]) => Object.fromEntries(cs.map((c) => [c.type, `${c.status}/${c.reason}`]));

test("frontend validation: the default applies to every HTTPS listener; a per-port entry overrides it (mode included)", () => {
  const r = modelOf(
    gw(`      default:
        validation: { caCertificateRefs: [{ group: "", kind: ConfigMap, name: ca-one }] }
      perPort:
        - port: 8443
          tls: { validation: { mode: AllowInsecureFallback, caCertificateRefs: [{ group: "", kind: ConfigMap, name: ca-one }, { group: "", kind: ConfigMap, name: ca-two }] } }
`) + configMap("infra", "ca-one") + configMap("infra", "ca-two", PEM.replace("x", "y")),
  );
  assert.deepEqual(problemLines(r), []);
  const [a, b, c, plain] = r.model.gateways[0]!.listeners;
  assert.equal(a!.clientValidation?.mode, "AllowValidOnly");
  assert.equal(a!.clientValidation?.caPem, "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n");
  assert.deepEqual(b!.clientValidation, a!.clientValidation);
  assert.equal(c!.clientValidation?.mode, "AllowInsecureFallback");
  assert.equal(c!.clientValidation?.caPem, "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\ny\n-----END CERTIFICATE-----\n");
  assert.equal(plain!.clientValidation, undefined, "HTTP listeners take no client certificates");
  const s = statusOf(r, "Gateway", "infra", "edge");
  for (const l of s.listeners) assert.equal(conds(l.conditions).ResolvedRefs, "True/ResolvedRefs");
});

test("frontend validation: a missing ConfigMap or one without ca.crt is InvalidCACertificateRef, a wrong kind InvalidCACertificateKind; the listener is not ready", () => {
  const r = modelOf(
    gw(`      default:
        validation: { caCertificateRefs: [{ group: "", kind: ConfigMap, name: nope }] }
      perPort:
        - port: 8443
          tls: { validation: { caCertificateRefs: [{ group: "", kind: Secret, name: ca-one }] } }
`) + configMap("infra", "ca-one"),
  );
  const s = statusOf(r, "Gateway", "infra", "edge");
  const byName = Object.fromEntries(s.listeners.map((l: { name: string; conditions: never }) => [l.name, conds(l.conditions)]));
  assert.equal(byName.a.ResolvedRefs, "False/InvalidCACertificateRef");
  assert.equal(byName.a.Accepted, "False/NoValidCACertificate");
  assert.equal(byName.a.Programmed, "False/Invalid");
  assert.equal(byName.b.ResolvedRefs, "False/InvalidCACertificateRef");
  assert.equal(byName.c.ResolvedRefs, "False/InvalidCACertificateKind");
  assert.equal(byName.plain.ResolvedRefs, "True/ResolvedRefs");
  assert.deepEqual(
    r.model.gateways[0]!.listeners.map((l) => l.ready),
    [false, false, false, true],
  );
  // One report per Gateway port, not one per listener sharing it.
  assert.deepEqual(
    problemLines(r).map((l) => l.replace(/ @\d+:\d+/, "")),
    [
      "MG_INVALID_CERTIFICATE_REF spec.tls.frontend.default.validation.caCertificateRefs[0].name: ConfigMap infra/nope is not defined",
      "MG_INVALID_KIND spec.tls.frontend.perPort[0].tls.validation.caCertificateRefs[0].kind: caCertificateRef kind Secret is not supported; use a ConfigMap with a ca.crt key",
    ],
  );

  const noCa = modelOf(gw(`      default:\n        validation: { caCertificateRefs: [{ group: "", kind: ConfigMap, name: empty }] }\n`) + configMap("infra", "empty", "not a certificate"));
  assert.equal(conds(statusOf(noCa, "Gateway", "infra", "edge").listeners[0].conditions).ResolvedRefs, "False/InvalidCACertificateRef");
});

test("frontend validation: one bad reference among good ones still keeps the listener unserved (Accepted stays True)", () => {
  const r = modelOf(gw(`      default:\n        validation: { caCertificateRefs: [{ group: "", kind: ConfigMap, name: ca-one }, { group: "", kind: ConfigMap, name: nope }] }\n`) + configMap("infra", "ca-one"));
  const l = conds(statusOf(r, "Gateway", "infra", "edge").listeners[0].conditions);
  assert.equal(l.ResolvedRefs, "False/InvalidCACertificateRef");
  assert.equal(l.Accepted, "True/Accepted");
  assert.equal(r.model.gateways[0]!.listeners[0]!.ready, false);
  assert.equal(r.model.gateways[0]!.listeners[0]!.clientValidation, undefined);
});

test("frontend validation: a ConfigMap in another namespace needs a ReferenceGrant", () => {
  const base = gw(`      default:\n        validation: { caCertificateRefs: [{ group: "", kind: ConfigMap, name: shared-ca, namespace: pki }] }\n`) + configMap("pki", "shared-ca");
  let r = modelOf(base);
  assert.equal(conds(statusOf(r, "Gateway", "infra", "edge").listeners[0].conditions).ResolvedRefs, "False/RefNotPermitted");
  r = modelOf(
    base +
      `---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: ca-for-infra, namespace: pki }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: Gateway, namespace: infra }]
  to: [{ group: "", kind: ConfigMap, name: shared-ca }]
`,
  );
  assert.deepEqual(problemLines(r), []);
  assert.equal(r.model.gateways[0]!.listeners[0]!.clientValidation?.mode, "AllowValidOnly");
});

test("frontend validation: an unknown mode is refused by the schema (the configuration is not usable)", () => {
  const r = modelOf(gw(`      default:\n        validation: { mode: AllowAnything, caCertificateRefs: [{ group: "", kind: ConfigMap, name: ca-one }] }\n`) + configMap("infra", "ca-one"));
  assert.equal(r.usable, false);
  assert.ok(problemLines(r).some((l) => l.startsWith("MG_SCHEMA") && l.includes("validation.mode") && l.includes("AllowAnything")), problemLines(r).join("\n"));
});
