// xDS benchmark entry point. By default runs the pipeline benchmark (pipeline.ts: a file
// change through `meshgate up`'s control plane to every proxy's ACK). MODE=synthetic runs
// the ADS server alone (this file): N simulated proxies (ADS clients, each with its own
// node id) in one process, the ADS server in another; each round changes one cluster's
// endpoints and measures from `update()` to every proxy having ACKed the new version.
//
//   node --import tsx bench/xds/run.ts                 (orchestrator; see bench/xds/README.md)
//   node --expose-gc --import tsx bench/xds/run.ts server   (synthetic; spawned, pinned to core 0)
//   node --import tsx bench/xds/run.ts clients              (synthetic; spawned, pinned to core 1)
//
// Environment: MODE (pipeline|synthetic), CLIENTS (default "1000,5000"), ROUNDS (5),
// FLAVOUR (sotw|delta), STREAMS_PER_CHANNEL (250), DEBOUNCE_MS (100, the server's default).

import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { AdsServer } from "../../src/xds/ads-server.js";
import { encodeResource, envoyRoot, TYPE_URLS } from "../../src/xds/envoy-protos.js";
import type { EncodedResource, NodeSnapshot, ResourceSet, SnapshotSet } from "../../src/xds/snapshot.js";
import { child as spawnChild, f1, memory, next, percentile, send, type Msg } from "./harness.js";

const CLUSTERS = 100;
const ROUTE_TABLES = 10;
const now = () => performance.timeOrigin + performance.now();
const role = process.argv[2] ?? "orchestrator";

// ---- the synthetic snapshot set --------------------------------------------------------------

function encoded(typeUrl: string, name: string, value: Record<string, unknown>): EncodedResource {
  const bytes = encodeResource(typeUrl, value);
  return { name, typeUrl, value: bytes, version: createHash("sha256").update(bytes).digest("hex").slice(0, 16) };
}

const clusterName = (i: number) => `svc-${i}.bench.svc.cluster.local|8080`;
const routeName = (i: number) => `routes-${i}`;
const nodeId = (i: number) => `sidecar~bench~proxy-${i}`;

function cluster(i: number): EncodedResource {
  return encoded(TYPE_URLS.cluster, clusterName(i), {
    name: clusterName(i),
    type: "EDS",
    edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: "V3" } },
    connectTimeout: { seconds: 5 },
    lbPolicy: "LEAST_REQUEST",
    circuitBreakers: { thresholds: [{ maxConnections: { value: 1024 }, maxPendingRequests: { value: 1024 }, maxRequests: { value: 1024 } }] },
    outlierDetection: { consecutive_5xx: { value: 5 }, interval: { seconds: 10 }, baseEjectionTime: { seconds: 30 } },
  });
}

function endpoints(i: number, generation: number): EncodedResource {
  return encoded(TYPE_URLS.endpoint, clusterName(i), {
    clusterName: clusterName(i),
    endpoints: [
      {
        locality: { region: "local", zone: "a" },
        lbEndpoints: [0, 1, 2].map((k) => ({ endpoint: { address: { socketAddress: { address: `10.${i}.${generation % 250}.${k + 1}`, portValue: 8080 } } }, loadBalancingWeight: { value: 1 } })),
      },
    ],
  });
}

function routeTable(i: number): EncodedResource {
  return encoded(TYPE_URLS.route, routeName(i), {
    name: routeName(i),
    virtualHosts: Array.from({ length: 10 }, (_, v) => ({
      name: `vh-${i}-${v}`,
      domains: [`app-${i}-${v}.bench.example`],
      routes: Array.from({ length: 5 }, (_, r) => ({ match: { prefix: `/api/v${r}` }, route: { cluster: clusterName((i * 10 + v + r) % CLUSTERS), timeout: { seconds: 15 } } })),
    })),
  });
}

function listener(i: number): EncodedResource {
  const name = `proxy-${i}/outbound`;
  return encoded(TYPE_URLS.listener, name, {
    name,
    address: { socketAddress: { address: "127.0.0.1", portValue: 15001 } },
    filterChains: Array.from({ length: ROUTE_TABLES }, (_, k) => ({
      filterChainMatch: { destinationPort: { value: 8000 + k } },
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typedConfig: {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            statPrefix: `outbound_${k}`,
            rds: { routeConfigName: routeName(k), configSource: { ads: {}, resourceApiVersion: "V3" } },
            httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
          },
        },
      ],
    })),
  });
}

const byName = (rs: EncodedResource[]): ResourceSet => new Map(rs.map((r) => [r.name, r]));

class SyntheticMesh {
  private readonly clusters = byName(Array.from({ length: CLUSTERS }, (_, i) => cluster(i)));
  private readonly routes = byName(Array.from({ length: ROUTE_TABLES }, (_, i) => routeTable(i)));
  private readonly listeners: ResourceSet[];
  private readonly eps: EncodedResource[] = Array.from({ length: CLUSTERS }, (_, i) => endpoints(i, 0));
  private readonly empty: ResourceSet = new Map();
  constructor(private readonly n: number) {
    this.listeners = Array.from({ length: n }, (_, i) => byName([listener(i)]));
  }
  /** Version `round`: cluster `round % 100` has new endpoints; everything else is shared and unchanged. */
  set(round: number): SnapshotSet {
    if (round > 0) this.eps[round % CLUSTERS] = endpoints(round % CLUSTERS, round);
    const endpointSet = byName(this.eps);
    const version = String(round + 1);
    const nodes = new Map<string, NodeSnapshot>();
    for (let i = 0; i < this.n; i++)
      nodes.set(nodeId(i), { version, resources: { listener: this.listeners[i]!, route: this.routes, cluster: this.clusters, endpoint: endpointSet, secret: this.empty } });
    return { version, nodes, fallback: { version, resources: { listener: this.empty, route: this.empty, cluster: this.empty, endpoint: this.empty, secret: this.empty } } };
  }
}

// ---- server process --------------------------------------------------------------------------

async function runServer(n: number): Promise<void> {
  const mesh = new SyntheticMesh(n);
  let round = 0;
  const pending = new Map<string, { t0: number; cpu: NodeJS.CpuUsage }>();
  const server = new AdsServer({
    security: { mode: "plaintext" },
    snapshot: mesh.set(0),
    debounceMs: Number(process.env.DEBOUNCE_MS ?? 100),
    grpcOptions: { "grpc.max_concurrent_streams": 100_000 },
  });
  const port = await server.listen("127.0.0.1:0");
  const before = memory();
  const poll = setInterval(() => {
    for (const [version, p] of pending) {
      const h = server.tracker.versions().find((x) => x.version === version);
      if (h?.convergedAt !== undefined) {
        pending.delete(version);
        const cpu = process.cpuUsage(p.cpu);
        send({ type: "converged", version, t0: p.t0, convergedAt: h.convergedAt, proxies: h.proxies, cpuMs: (cpu.user + cpu.system) / 1000 });
      }
    }
  }, 2);
  process.on("message", (m: Msg) => {
    if (m.type === "memory") send({ type: "memory", before, after: memory(), streams: server.connectedStreams, summary: server.tracker.summary() });
    else if (m.type === "update") {
      round++;
      const set = mesh.set(round);
      const cpu = process.cpuUsage();
      const t0 = now();
      pending.set(set.version, { t0, cpu });
      server.update(set);
    } else if (m.type === "exit") {
      clearInterval(poll);
      void server.close().then(() => process.exit(0));
    }
  });
  send({ type: "ready", port });
}

// ---- load generator process ------------------------------------------------------------------

async function runClients(port: number, n: number, perChannel: number, flavour: "sotw" | "delta"): Promise<void> {
  const root = envoyRoot();
  const Req = root.lookupType(flavour === "sotw" ? "envoy.service.discovery.v3.DiscoveryRequest" : "envoy.service.discovery.v3.DeltaDiscoveryRequest");
  const Res = root.lookupType(flavour === "sotw" ? "envoy.service.discovery.v3.DiscoveryResponse" : "envoy.service.discovery.v3.DeltaDiscoveryResponse");
  const method = flavour === "sotw" ? "StreamAggregatedResources" : "DeltaAggregatedResources";
  const channels: grpc.Client[] = [];
  for (let c = 0; c < Math.ceil(n / perChannel); c++)
    channels.push(new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1, "grpc.max_receive_message_length": 64 << 20, "grpc.channel_id": c } as grpc.ChannelOptions));
  const edsNames = Array.from({ length: CLUSTERS }, (_, i) => clusterName(i));
  const rdsNames = Array.from({ length: ROUTE_TABLES }, (_, i) => routeName(i));
  const subscriptions: [string, string[]][] = [
    [TYPE_URLS.cluster, []],
    [TYPE_URLS.endpoint, edsNames],
    [TYPE_URLS.listener, []],
    [TYPE_URLS.route, rdsNames],
  ];
  const namesOf = new Map(subscriptions);
  /** version -> ACK send times of EDS responses carrying it. */
  const acks = new Map<string, number[]>();
  let initialAcks = 0;
  const started = now();
  let reportSynced: (() => void) | undefined;
  const synced = new Promise<void>((r) => (reportSynced = r));
  const encode = (o: Record<string, unknown>) => Buffer.from(Req.encode(Req.fromObject(o)).finish());

  for (let i = 0; i < n; i++) {
    const call = channels[Math.floor(i / perChannel)]!.makeBidiStreamRequest(`/envoy.service.discovery.v3.AggregatedDiscoveryService/${method}`, (b: Buffer) => b, (b: Buffer) => b);
    const nodeField = { node: { id: nodeId(i), cluster: "bench" } };
    let first = true;
    call.on("data", (b: Buffer) => {
      const r = Res.decode(b) as unknown as { typeUrl: string; nonce: string; versionInfo?: string; systemVersionInfo?: string };
      const version = (flavour === "sotw" ? r.versionInfo : r.systemVersionInfo) ?? "";
      call.write(flavour === "sotw" ? encode({ typeUrl: r.typeUrl, versionInfo: version, responseNonce: r.nonce, resourceNames: namesOf.get(r.typeUrl) }) : encode({ typeUrl: r.typeUrl, responseNonce: r.nonce }));
      const at = now();
      if (version === "1") {
        if (++initialAcks === n * subscriptions.length) reportSynced!();
      } else if (r.typeUrl === TYPE_URLS.endpoint) {
        let list = acks.get(version);
        if (!list) acks.set(version, (list = []));
        list.push(at);
      }
    });
    call.on("error", (e) => {
      process.stderr.write(`stream ${i}: ${(e as Error).message}\n`);
    });
    for (const [typeUrl, names] of subscriptions) {
      const node = first ? nodeField : {};
      first = false;
      call.write(flavour === "sotw" ? encode({ ...node, typeUrl, resourceNames: names }) : encode({ ...node, typeUrl, resourceNamesSubscribe: names }));
    }
    if (i % 100 === 99) await new Promise((r) => setImmediate(r));
  }
  await synced;
  send({ type: "synced", ms: now() - started, channels: channels.length });
  process.on("message", (m: Msg) => {
    if (m.type === "acks") send({ type: "acks", version: m.version, times: acks.get(m.version as string) ?? [] });
    else if (m.type === "exit") {
      for (const c of channels) c.close();
      process.exit(0);
    }
  });
}

// ---- orchestrator ----------------------------------------------------------------------------

function child(args: string[], core: string, nodeFlags: string[] = []): ChildProcess {
  return spawnChild(fileURLToPath(import.meta.url), args, core, nodeFlags);
}

async function orchestrate(): Promise<void> {
  const sizes = (process.env.CLIENTS ?? "1000,5000").split(",").map(Number);
  const rounds = Number(process.env.ROUNDS ?? 5);
  const flavour = (process.env.FLAVOUR ?? "sotw") as "sotw" | "delta";
  const perChannel = Number(process.env.STREAMS_PER_CHANNEL ?? 250);
  console.log(`node ${process.version}, ${process.platform}/${process.arch}; ${flavour}; ${CLUSTERS} clusters + ${CLUSTERS} endpoint sets + ${ROUTE_TABLES} route tables shared, 1 listener per proxy; ${perChannel} streams per HTTP/2 connection; debounce ${process.env.DEBOUNCE_MS ?? 100} ms`);
  for (const n of sizes) {
    const server = child(["server", String(n)], "0", ["--expose-gc"]);
    const { port } = (await next(server, "ready")) as unknown as { port: number };
    const clients = child(["clients", String(port), String(n), String(perChannel), flavour], "1");
    const synced = (await next(clients, "synced")) as unknown as { ms: number; channels: number };
    await new Promise((r) => setTimeout(r, 500));
    const mem = (await (server.send({ type: "memory" }), next(server, "memory"))) as unknown as {
      before: ReturnType<typeof memory>;
      after: ReturnType<typeof memory>;
      streams: number;
      summary: { text: string };
    };
    console.log(`\n${n} proxies on ${synced.channels} connections: initial sync (4 types each) in ${f1(synced.ms)} ms; ${mem.summary.text}`);
    const per = (k: keyof ReturnType<typeof memory>) => (mem.after[k] - mem.before[k]) / mem.streams / 1024;
    console.log(`server memory per connected proxy: RSS ${f1(per("rss"))} KiB, heap ${f1(per("heapUsed"))} KiB, buffers ${f1(per("external"))} KiB (RSS ${f1(mem.before.rss / 2 ** 20)} -> ${f1(mem.after.rss / 2 ** 20)} MiB)`);
    console.log("round  p50 ms  p90 ms  p99 ms  max ms  converged ms  server CPU ms");
    const all: number[] = [];
    const totals: number[] = [];
    for (let r = 1; r <= rounds; r++) {
      server.send({ type: "update" });
      const c = (await next(server, "converged")) as unknown as { version: string; t0: number; convergedAt: number; proxies: number; cpuMs: number };
      clients.send({ type: "acks", version: c.version });
      const { times } = (await next(clients, "acks")) as unknown as { times: number[] };
      if (times.length !== n) throw new Error(`round ${r}: ${times.length} of ${n} proxies ACKed version ${c.version}`);
      const lat = times.map((t) => t - c.t0).sort((a, b) => a - b);
      all.push(...lat);
      totals.push(c.convergedAt - c.t0);
      console.log(`${String(r).padStart(5)}  ${[50, 90, 99, 100].map((p) => f1(percentile(lat, p)).padStart(6)).join("  ")}  ${f1(c.convergedAt - c.t0).padStart(12)}  ${f1(c.cpuMs).padStart(13)}`);
      await new Promise((res) => setTimeout(res, 300));
    }
    all.sort((a, b) => a - b);
    totals.sort((a, b) => a - b);
    console.log(`  all  ${[50, 90, 99, 100].map((p) => f1(percentile(all, p)).padStart(6)).join("  ")}  ${f1(percentile(totals, 50)).padStart(12)}  (median)`);
    server.send({ type: "exit" });
    clients.send({ type: "exit" });
    await Promise.all([new Promise((r) => server.on("exit", r)), new Promise((r) => clients.on("exit", r))]);
  }
}

if (role === "server") await runServer(Number(process.argv[3]));
else if (role === "clients") await runClients(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]), process.argv[6] as "sotw" | "delta");
else if (process.env.MODE === "synthetic") await orchestrate();
else await (await import("./pipeline.js")).orchestrate();
