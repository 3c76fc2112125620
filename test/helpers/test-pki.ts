// Certificates for end-to-end tests, made with openssl (ECDSA P-256): a root, an
// intermediate, and leaves with the names a test asks for. Independent of meshgate's own
// PKI code, so a test of the proxy's TLS does not lean on the code it checks.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Leaf {
  /** Leaf + intermediate (what a server or client presents). */
  readonly chain: string;
  readonly key: string;
}

export interface TestPki {
  readonly root: string;
  leaf(name: string, subjectAltName: string, usage: "serverAuth" | "clientAuth" | "serverAuth,clientAuth"): Leaf;
  close(): void;
}

export function createTestPki(label = "test"): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-pki-"));
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  const newKey = (name: string) => ssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`);
  const sign = (name: string, issuer: string, ext: string[]) => {
    writeFileSync(join(dir, "ext.cnf"), ext.join("\n") + "\n");
    ssl("x509", "-req", "-in", `${name}.csr`, "-CA", `${issuer}.crt`, "-CAkey", `${issuer}.key`, "-CAcreateserial", "-sha256", "-days", "30", "-extfile", "ext.cnf", "-out", `${name}.crt`);
  };
  newKey("root");
  ssl("req", "-new", "-x509", "-key", "root.key", "-sha256", "-days", "30", "-subj", `/O=meshgate ${label}/CN=${label} root`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "root.crt");
  newKey("inter");
  ssl("req", "-new", "-key", "inter.key", "-subj", `/O=meshgate ${label}/CN=${label} intermediate`, "-out", "inter.csr");
  sign("inter", "root", ["basicConstraints=critical,CA:TRUE,pathlen:0", "keyUsage=critical,keyCertSign,cRLSign", "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid:always"]);
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  const inter = read("inter.crt");
  let n = 0;
  return {
    root: read("root.crt"),
    leaf(name, subjectAltName, usage) {
      const file = `leaf${++n}`;
      newKey(file);
      ssl("req", "-new", "-key", `${file}.key`, "-subj", `/O=meshgate ${label}/CN=${name}`, "-out", `${file}.csr`);
      sign(file, "inter", ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature", `extendedKeyUsage=${usage}`, `subjectAltName=${subjectAltName}`]);
      return { chain: read(`${file}.crt`) + inter, key: read(`${file}.key`) };
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A kubernetes.io/tls Secret (YAML) holding a leaf. */
export function tlsSecretYaml(namespace: string, name: string, leaf: Leaf): string {
  return `---
apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: ${namespace} }
type: kubernetes.io/tls
stringData:
  tls.crt: ${JSON.stringify(leaf.chain)}
  tls.key: ${JSON.stringify(leaf.key)}
`;
}

/** A ConfigMap (YAML) with a CA bundle under ca.crt, for BackendTLSPolicy. */
export function caConfigMapYaml(namespace: string, name: string, pem: string): string {
  return `---
apiVersion: v1
kind: ConfigMap
metadata: { name: ${name}, namespace: ${namespace} }
data:
  ca.crt: ${JSON.stringify(pem)}
`;
}
