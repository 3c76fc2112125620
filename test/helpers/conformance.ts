// Loads the upstream Gateway API conformance manifests (kept beside the repository in
// ../shared/conformance/gateway-api) the way the conformance suite applies them: the
// base manifests plus one test's manifests, with meshgate's GatewayClass and the TLS
// Secret the suite would generate. Deployments (the echo backends) are not config.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseYamlFile, type SourceDocument } from "../../src/config/yaml-documents.js";

export const CONFORMANCE_DIR = resolve(import.meta.dirname, "../../../shared/conformance/gateway-api");

const SUITE_EXTRAS = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: meshgate }
spec: { controllerName: meshgate.dev/gateway-controller }
---
apiVersion: v1
kind: Secret
metadata: { name: tls-validity-checks-certificate, namespace: gateway-conformance-infra }
type: kubernetes.io/tls
stringData:
  tls.crt: "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"
  tls.key: "-----BEGIN PRIVATE KEY-----\\nMIIB\\n-----END PRIVATE KEY-----\\n"
`;

function read(file: string): SourceDocument[] {
  const parsed = parseYamlFile(file, readFileSync(file, "utf8").replaceAll("{GATEWAY_CLASS_NAME}", "meshgate"));
  if (parsed.issues.length > 0) throw new Error(`${file}: ${parsed.issues[0]!.message}`);
  return parsed.documents.filter((d) => (d.value as { kind?: string }).kind !== "Deployment");
}

export function conformanceTests(): string[] {
  if (!existsSync(CONFORMANCE_DIR)) throw new Error(`conformance manifests not found at ${CONFORMANCE_DIR}`);
  return readdirSync(join(CONFORMANCE_DIR, "tests")).filter((f) => f.endsWith(".yaml")).sort();
}

export function conformanceDocuments(testFile: string): SourceDocument[] {
  const docs = [
    ...parseYamlFile("suite-extras.yaml", SUITE_EXTRAS).documents,
    ...read(join(CONFORMANCE_DIR, "base", "manifests.yaml")),
    ...read(join(CONFORMANCE_DIR, "tests", testFile)),
  ];
  // In a cluster each Gateway gets its own address; on one machine two Gateways on port
  // 80 need distinct loopback addresses (else the newer is refused: MG_ADDRESS_IN_USE).
  let n = 0;
  for (const d of docs) {
    const v = d.value as { kind?: string; spec?: { addresses?: unknown[] } };
    if (v.kind === "Gateway" && v.spec && !v.spec.addresses) v.spec.addresses = [{ type: "IPAddress", value: `127.0.1.${++n}` }];
  }
  return docs;
}
