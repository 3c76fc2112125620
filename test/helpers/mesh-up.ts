// `meshgate up` as a subprocess for mesh end-to-end tests: a config directory of its own,
// free ports, a separate state directory, one gateway worker. The tests rewrite the
// configuration files (the config watcher reloads) and wait until every proxy runs the
// new version, then send real requests: plaintext and TLS straight to a sidecar's inbound
// port, or through a workload's sidecar outbound port (the workload's own identity).
//
// Also here: SVIDs issued by a running mesh's own CA (so a test client is a genuine
// member of the mesh), TLS clients that report how a connection ended, and requests
// through a sidecar's outbound HTTP proxy port.

import { createHash, createPublicKey, X509Certificate } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { ConnectionOptions, TLSSocket } from "node:tls";
import { encodePem, FastSvidIssuer, generateKeyPair, readCaFolder, SpiffeId } from "../../src/pki/index.js";
import { startEcho, type EchoBackend } from "./echo-backend.js";
import { freePort as freeEphemeralPort } from "./gateway-harness.js";
import { spawnMeshgate, type MeshgateProcess } from "./meshgate-process.js";

/** Ports other tests and examples use on purpose (Bookinfo's, meshgate's defaults). */
const RESERVED = new Set([8080, 15000, 15010, 15012, 18081, ...[19080, 29080, 39080].flatMap((b) => [0, 1, 2, 3, 4, 5].map((i) => b + i))]);
const handedOut = new Set<number>();

/** Below the kernel's ephemeral range: where outgoing connections and bind(0) take ports. */
function ephemeralStart(): number {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}
const RANGE = { low: 20_000, high: Math.min(ephemeralStart(), 32_768) };

/**
 * A port that is free now and is not in the ephemeral range, for something a process
 * started later binds (a sidecar's ports, a gateway listener). A port from bind(0) would be
 * in the ephemeral range, where any outgoing connection on the machine (these tests make
 * many, and so do others running beside them) may take it before the sidecar binds it.
 */
export async function freePort(): Promise<number> {
  if (RANGE.high - RANGE.low < 1000) return freeEphemeralPort();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = RANGE.low + Math.floor(Math.random() * (RANGE.high - RANGE.low));
    if (handedOut.has(port) || RESERVED.has(port)) continue;
    if (await canBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
  return freeEphemeralPort();
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createNetServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

export interface MeshUp {
  readonly configDir: string;
  readonly stateDir: string;
  readonly process: MeshgateProcess;
  readonly adminUrl: string;
  /**
   * Writes (or, with `undefined`, deletes) files in the config directory and waits until
   * the control plane serves the new version and `proxies` (default: every proxy it knows)
   * have applied it.
   */
  apply(files: Readonly<Record<string, string | undefined>>, proxies?: readonly string[]): Promise<void>;
  /** Waits until the configuration in force is served and applied by `proxies` (node ids). */
  converged(proxies?: readonly string[], timeoutMs?: number): Promise<void>;
  /** An X.509-SVID for `spiffeId` issued by the running mesh's CA (`mesh`: the Mesh's name). */
  issueSvid(mesh: string, spiffeId: string): { cert: string; key: string; ca: string };
  /** JSON log lines (stdout and stderr of `up`, its proxies and applications) so far. */
  logs(): Record<string, unknown>[];
}

interface SyncProxy {
  readonly id: string;
  readonly status: string;
  readonly version: string | null;
}

interface Syncz {
  readonly summary: { readonly version: string | null };
  readonly proxies: readonly SyncProxy[];
}

async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return (await r.json()) as T;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, detail?: () => string): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}${detail ? `\n${detail()}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export { until };

/**
 * Starts `meshgate up` on `files` (name -> YAML; `copyFrom`: a directory copied in first,
 * whose files `files` may replace) and waits until `proxies` (node ids such as
 * `sidecar~ns~name`, `gateway~ns~name`) have connected and applied the configuration.
 */
export async function startMeshUp(t: TestContext, files: Readonly<Record<string, string>>, proxies: readonly string[], opts: { copyFrom?: string } = {}): Promise<MeshUp> {
  const base = mkdtempSync(join(tmpdir(), "meshgate-mesh-"));
  const configDir = join(base, "config");
  const stateDir = join(base, "state");
  if (opts.copyFrom !== undefined) cpSync(opts.copyFrom, configDir, { recursive: true });
  else mkdirSync(configDir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(configDir, name), text);
  const proc = spawnMeshgate(t, [
    "up",
    "--config",
    configDir,
    "--admin",
    "127.0.0.1:0",
    "--xds",
    "127.0.0.1:0",
    "--xds-tls",
    "127.0.0.1:0",
    "--ratelimit-service",
    `127.0.0.1:${await freePort()}`,
    "--state-dir",
    stateDir,
    "--gateway-workers",
    "1",
    "--debounce",
    "20",
    "--xds-debounce",
    "20",
    "--log-format",
    "json",
  ]);
  t.after(async () => {
    await proc.stop();
    rmSync(base, { recursive: true, force: true });
  });
  const adminUrl = /Admin: (http:\/\/127\.0\.0\.1:\d+)\/readyz/.exec(await proc.waitForLine(/Admin: http/, 60_000))![1]!;
  const tail = () => `last output of meshgate up:\n${proc.lines.slice(-25).join("\n")}`;

  // Generous: a machine busy with other tests starts the proxies (one process each) slowly.
  const converged = async (want: readonly string[] = proxies, timeoutMs = 30_000) => {
    const dump = await getJson<{ version: number }>(`${adminUrl}/config_dump`);
    const loaded = String(dump.version);
    await until(
      `configuration version ${loaded} to be applied by ${want.join(", ")}`,
      async () => {
        const s = await getJson<Syncz>(`${adminUrl}/debug/syncz`);
        const v = s.summary.version;
        // A renewal serves `<config>+certs.<n>`: the same configuration.
        if (v === null || (v !== loaded && !v.startsWith(`${loaded}+`))) return undefined;
        const ok = want.every((id) => s.proxies.some((p) => p.id === id && p.status === "SYNCED" && p.version === v));
        return ok ? true : undefined;
      },
      timeoutMs,
      tail,
    );
  };

  const mesh: MeshUp = {
    configDir,
    stateDir,
    process: proc,
    adminUrl,
    converged,
    async apply(changes, want = proxies) {
      const before = (await getJson<{ version: number }>(`${adminUrl}/config_dump`)).version;
      for (const [name, text] of Object.entries(changes)) {
        const file = join(configDir, name);
        if (text === undefined) rmSync(file, { force: true });
        else {
          // Written beside and renamed, so the watcher never reads half a file.
          writeFileSync(`${file}.tmp`, text);
          renameSync(`${file}.tmp`, file);
        }
      }
      await until(
        "the configuration change to be loaded",
        async () => {
          const d = await getJson<{ version: number; lastRejected?: { reason: string; problems: string[] } }>(`${adminUrl}/config_dump`);
          if (d.lastRejected) throw new Error(`configuration rejected: ${d.lastRejected.reason}\n${d.lastRejected.problems.join("\n")}`);
          return d.version > before ? true : undefined;
        },
        15_000,
        tail,
      );
      await converged(want);
    },
    issueSvid(meshName, spiffeId) {
      const ca = readCaFolder(join(stateDir, "pki", "meshes", meshName));
      const { privateKey } = generateKeyPair("ec-p256");
      const issued = new FastSvidIssuer(ca).issueForKey(createPublicKey(privateKey), SpiffeId.parse(spiffeId), { ttlMs: 3_600_000 });
      return { cert: issued.chainPem, key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), ca: encodePem("CERTIFICATE", ca.root.raw) };
    },
    logs() {
      return proc.lines.filter((l) => l.startsWith("{")).flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
    },
  };
  await converged(proxies, 90_000);
  return mesh;
}

/** How one exchange ended: an HTTP response, or the connection failing before one. */
export type Outcome = { readonly kind: "response"; readonly status: number; readonly headers: Record<string, string | string[] | undefined>; readonly body: string; readonly peerSpiffeId?: string } | { readonly kind: "refused"; readonly error: string };

/** The SHA-256 (hex) of the first certificate of a PEM chain: x-forwarded-client-cert's Hash. */
export function certificateHash(chainPem: string): string {
  return createHash("sha256").update(new X509Certificate(chainPem).raw).digest("hex");
}

/**
 * One HTTP/1.1 GET straight to a sidecar's inbound port: plaintext, or TLS with the given
 * options (a client certificate or none; the server certificate is checked against `ca`
 * when given, its SPIFFE ID reported). A fresh connection, closed afterwards.
 */
export function directRequest(port: number, path: string, tls?: Pick<ConnectionOptions, "ca" | "cert" | "key">, headers: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    let peerSpiffeId: string | undefined;
    const options = { host: "127.0.0.1", port, path, method: "GET", agent: false, headers: { ...headers, host: "app.test", connection: "close" } } as const;
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ kind: "response", status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8"), ...(peerSpiffeId ? { peerSpiffeId } : {}) }));
      res.on("error", (e) => resolve({ kind: "refused", error: e.message }));
    };
    const req = tls
      ? httpsRequest({ ...options, ...tls, rejectUnauthorized: tls.ca !== undefined, checkServerIdentity: () => undefined }, onResponse)
      : httpRequest(options, onResponse);
    req.on("socket", (s) =>
      s.once("secureConnect", () => {
        const cert = (s as TLSSocket).getPeerX509Certificate();
        peerSpiffeId = cert ? uriSan(cert) : undefined;
      }),
    );
    req.setTimeout(5_000, () => req.destroy(new Error("timeout")));
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ kind: "refused", error: e.code ?? e.message }));
    req.end();
  });
}

function uriSan(cert: X509Certificate): string | undefined {
  return cert.subjectAltName
    ?.split(", ")
    .find((s) => s.startsWith("URI:"))
    ?.slice(4);
}

/**
 * A request (GET unless told) through a workload's sidecar outbound port (its HTTP proxy), as the application
 * itself would send it: absolute-form target, the Service in Host.
 */
export function viaSidecar(outboundPort: number, url: string, headers: Record<string, string> = {}, method = "GET"): Promise<Outcome> {
  const target = new URL(url);
  return new Promise((resolve) => {
    const req = httpRequest({ host: "127.0.0.1", port: outboundPort, method, path: target.href, headers: { ...headers, host: target.host }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ kind: "response", status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", (e) => resolve({ kind: "refused", error: e.message }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error("timeout")));
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ kind: "refused", error: e.code ?? e.message }));
    req.end();
  });
}

/** An echo application run by the test as a meshed Workload, with its sidecar's ports. */
export interface MeshApp {
  readonly ns: string;
  readonly name: string;
  readonly echo: EchoBackend;
  readonly inbound: number;
  readonly outbound: number;
}

export async function meshApp(t: TestContext, ns: string, name: string): Promise<MeshApp> {
  return { ns, name, echo: await startEcho(t, `${ns}/${name}`), inbound: await freePort(), outbound: await freePort() };
}

/** The app's Service (port 80) and Workload (service account, `app` label = its name; no command: the test runs it). */
export function meshAppYaml(a: MeshApp): string {
  return `---
apiVersion: v1
kind: Service
metadata: { name: ${a.name}, namespace: ${a.ns} }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: ${a.name}, namespace: ${a.ns} }
spec:
  serviceAccount: ${a.name}
  labels: { app: ${a.name} }
  port: ${a.echo.port}
  services: [${a.name}]
  sidecar: { inboundPort: ${a.inbound}, outboundPort: ${a.outbound} }
`;
}

/** A Mesh over `namespaces` with mesh-wide STRICT mTLS (a PeerAuthentication in the root namespace). */
export function strictMeshYaml(name: string, trustDomain: string, namespaces: readonly string[]): string {
  return `apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: ${name} }
spec: { trustDomain: ${trustDomain}, namespaces: [${namespaces.join(", ")}] }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
`;
}
