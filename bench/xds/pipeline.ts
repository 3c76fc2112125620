// xDS pipeline benchmark: the control plane of `meshgate up` (config watcher -> model ->
// translate -> mesh CA -> snapshot build -> ADS) serving a generated mesh of N Workloads,
// N simulated sidecars plus one gateway proxy connected over plaintext ADS; each round
// rewrites one configuration file and measures from the write to every proxy having
// ACKed the new version. See bench/xds/README.md.
//
//   node --import tsx bench/xds/pipeline.ts                          (orchestrator)
//   node --expose-gc --import tsx bench/xds/pipeline.ts server ...   (spawned, core 0)
//   node --import tsx bench/xds/pipeline.ts clients ...              (spawned, core 1)
//
// Environment: CLIENTS (default "1000,5000"), ROUNDS (5), FLAVOUR (sotw|delta),
// STREAMS_PER_CHANNEL (250), DEBOUNCE_MS (xDS push debounce, default 100 as in
// `meshgate up`), WATCH_DEBOUNCE_MS (config watcher debounce, default 50 as in `meshgate up`),
// SERVER_CPU_PROF (a directory: write a CPU profile of the server process there).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import type { AppliedConfig } from "../../src/runtime/config-watcher.js";
import type { CompileReport } from "../../src/runtime/control-plane.js";
import { startEmbedded } from "../../src/runtime/embedded.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { decodeResource, envoyRoot, TYPE_URLS } from "../../src/xds/envoy-protos.js";
import { child as spawnChild, f1, loadAverage, memory, next, percentile, send, type Memory, type Msg } from "./harness.js";
import { GATEWAY_NODE, SERVICES, sidecarNode, writeMeshConfig, writeSplit } from "./mesh-config.js";

const role = process.argv[2] ?? "orchestrator";
const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

// ---- server process: `meshgate up`'s runtime -------------------------------------------------

async function runServer(configDir: string, stateDir: string): Promise<void> {
  const baseline = memory();
  const compiled: CompileReport[] = [];
  let onCompiled: ((r: CompileReport) => void) | undefined;
  // The control plane's own log line says when a configuration was compiled and served.
  const logSink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line.includes('"configuration compiled and served"')) {
          if (line.includes('"level":50') || line.includes('"level":40')) process.stderr.write(line + "\n");
          continue;
        }
        const report = runtime?.controlPlane.lastCompile;
        if (report) {
          compiled.push(report);
          onCompiled?.(report);
        }
      }
      cb();
    },
  });
  const watchDebounce = process.env.WATCH_DEBOUNCE_MS;
  const xdsDebounce = process.env.DEBOUNCE_MS;
  let runtime: Awaited<ReturnType<typeof startEmbedded>> | undefined;
  runtime = await startEmbedded({
    configPaths: [configDir],
    admin: { host: "127.0.0.1", port: 0 },
    ...(watchDebounce ? { debounceMs: Number(watchDebounce) } : {}),
    logger: createLogger({ format: "json", level: "info", destination: logSink }),
    controlPlane: { xds: { host: "127.0.0.1", port: 0 }, stateDir, ...(xdsDebounce ? { debounceMs: Number(xdsDebounce) } : {}) },
  });
  const rt = runtime;
  const loads = new Map<string, AppliedConfig["timings"]>();
  rt.watcher.on("applied", (c) => loads.set(String(c.version), c.timings));
  while (!rt.controlPlane.lastCompile) await new Promise((r) => setTimeout(r, 10));
  const initial = rt.controlPlane.lastCompile;
  const configured = memory();
  const tracker = rt.controlPlane.tracker;

  onCompiled = (report) => {
    const cpu = process.cpuUsage();
    const timings = loads.get(report.version);
    send({ type: "compiled", report: report as unknown as Record<string, unknown>, load: (timings ?? {}) as unknown as Record<string, unknown> });
    const poll = setInterval(() => {
      const h = tracker.versions().find((x) => x.version === report.version);
      if (h?.convergedAt === undefined) return;
      clearInterval(poll);
      const used = process.cpuUsage(cpu);
      send({ type: "converged", version: report.version, updatedAt: h.updatedAt, appliedAt: h.appliedAt ?? 0, convergedAt: h.convergedAt, proxies: h.proxies ?? 0, cpuMs: (used.user + used.system) / 1000 });
    }, 2);
  };
  process.on("message", (m: Msg) => {
    if (m.type === "memory") send({ type: "memory", baseline, configured, after: memory(), summary: tracker.summary().text } as unknown as Msg);
    else if (m.type === "exit") void rt.close().then(() => process.exit(0));
  });
  send({ type: "ready", port: Number(rt.xdsAddress.split(":").pop()), initial: initial as unknown as Record<string, unknown> });
}

// ---- load generator: proxies that follow what they are sent --------------------------------

type Flavour = "sotw" | "delta";
interface Any {
  typeUrl: string;
  value: Uint8Array;
}

/** What a Cluster or Listener leads to (EDS cluster names, RDS route table names); shared between proxies by content. */
const followCache = new Map<string, string[]>();
function follows(typeUrl: string, a: Any): string[] {
  const key = Buffer.from(a.value).toString("base64");
  let out = followCache.get(key);
  if (out) return out;
  out = [];
  if (typeUrl === TYPE_URLS.cluster) {
    const c = decodeResource(typeUrl, a.value) as { name: string; type?: string };
    if (c.type === "EDS") out.push(c.name);
  } else if (typeUrl === TYPE_URLS.listener) {
    const l = decodeResource(typeUrl, a.value) as { filterChains?: { filters?: { typedConfig?: { "@type": string; rds?: { routeConfigName: string } } }[] }[] };
    for (const fc of l.filterChains ?? []) for (const f of fc.filters ?? []) if (f.typedConfig?.["@type"] === HCM && f.typedConfig.rds) out.push(f.typedConfig.rds.routeConfigName);
  }
  followCache.set(key, out);
  return out;
}

const FOLLOWS: Record<string, string> = { [TYPE_URLS.cluster]: TYPE_URLS.endpoint, [TYPE_URLS.listener]: TYPE_URLS.route };
const TYPES = [TYPE_URLS.cluster, TYPE_URLS.listener, TYPE_URLS.endpoint, TYPE_URLS.route];

async function runClients(port: number, ids: string[], perChannel: number, flavour: Flavour): Promise<void> {
  const root = envoyRoot();
  const Req = root.lookupType(flavour === "sotw" ? "envoy.service.discovery.v3.DiscoveryRequest" : "envoy.service.discovery.v3.DeltaDiscoveryRequest");
  const Res = root.lookupType(flavour === "sotw" ? "envoy.service.discovery.v3.DiscoveryResponse" : "envoy.service.discovery.v3.DeltaDiscoveryResponse");
  const method = flavour === "sotw" ? "StreamAggregatedResources" : "DeltaAggregatedResources";
  const encode = (o: Record<string, unknown>) => Buffer.from(Req.encode(Req.fromObject(o)).finish());
  const channels: grpc.Client[] = [];
  // HTTP/2 flow-control windows as large as Envoy's defaults (256 MiB per stream and per
  // connection): with grpc-js's 64 KiB, a connection shared by 250 simulated proxies
  // would throttle every push to one window update round trip per 64 KiB.
  const window = 256 << 20;
  for (let c = 0; c < Math.ceil(ids.length / perChannel); c++)
    channels.push(
      new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
        "grpc.use_local_subchannel_pool": 1,
        "grpc.max_receive_message_length": 64 << 20,
        "grpc-node.flow_control_window": window,
        "grpc.channel_id": c,
      } as grpc.ChannelOptions),
    );

  /** version -> per proxy, the time of its last ACK of a response carrying that version (0: none). */
  const acks = new Map<string, Float64Array>();
  let syncedCount = 0;
  const started = Date.now();
  let reportSynced: (() => void) | undefined;
  const synced = new Promise<void>((r) => (reportSynced = r));
  let initialVersion: string | undefined;

  ids.forEach((id, i) => {
    const call = channels[Math.floor(i / perChannel)]!.makeBidiStreamRequest(`/envoy.service.discovery.v3.AggregatedDiscoveryService/${method}`, (b: Buffer) => b, (b: Buffer) => b);
    // Per type: the names subscribed (EDS/RDS), the last version and nonce; what CDS/LDS resources lead to.
    const names = new Map<string, string[]>();
    const last = new Map<string, { version: string; nonce: string }>();
    const held = new Map<string, Map<string, string[]>>([
      [TYPE_URLS.cluster, new Map()],
      [TYPE_URLS.listener, new Map()],
    ]);
    const answered = new Set<string>();
    const awaiting = new Set<string>();
    let isSynced = false;
    let nodeSent = false;
    const write = (o: Record<string, unknown>) => {
      if (!nodeSent) {
        o.node = { id, cluster: "bench" };
        nodeSent = true;
      }
      call.write(encode(o));
    };
    /** Subscribe to exactly `want` of `typeUrl` (EDS/RDS), as Envoy does after a CDS/LDS update. */
    const resubscribe = (typeUrl: string, want: string[]) => {
      const had = names.get(typeUrl) ?? [];
      if (had.length === want.length && had.every((n, k) => n === want[k])) return;
      names.set(typeUrl, want);
      awaiting.add(typeUrl);
      if (flavour === "sotw") {
        const l = last.get(typeUrl);
        write({ typeUrl, resourceNames: want, versionInfo: l?.version ?? "", responseNonce: l?.nonce ?? "" });
      } else {
        const h = new Set(had);
        const w = new Set(want);
        write({ typeUrl, resourceNamesSubscribe: want.filter((n) => !h.has(n)), resourceNamesUnsubscribe: had.filter((n) => !w.has(n)) });
      }
    };
    call.on("data", (b: Buffer) => {
      const r = Res.decode(b) as unknown as {
        typeUrl: string;
        nonce: string;
        versionInfo?: string;
        systemVersionInfo?: string;
        resources: (Any | { name: string; resource?: Any })[];
        removedResources?: string[];
      };
      const version = (flavour === "sotw" ? r.versionInfo : r.systemVersionInfo) ?? "";
      last.set(r.typeUrl, { version, nonce: r.nonce });
      const leadsTo = held.get(r.typeUrl);
      if (leadsTo) {
        if (flavour === "sotw") leadsTo.clear();
        for (const res of r.resources) {
          if (flavour === "sotw") leadsTo.set(String(leadsTo.size), follows(r.typeUrl, res as Any));
          else {
            const d = res as { name: string; resource?: Any };
            if (d.resource) leadsTo.set(d.name, follows(r.typeUrl, d.resource));
          }
        }
        for (const n of r.removedResources ?? []) leadsTo.delete(n);
        resubscribe(FOLLOWS[r.typeUrl]!, [...new Set([...leadsTo.values()].flat())].sort());
      }
      call.write(flavour === "sotw" ? encode({ typeUrl: r.typeUrl, versionInfo: version, responseNonce: r.nonce, resourceNames: names.get(r.typeUrl) ?? [] }) : encode({ typeUrl: r.typeUrl, responseNonce: r.nonce }));
      const at = Date.now();
      answered.add(r.typeUrl);
      awaiting.delete(r.typeUrl);
      if (!isSynced) {
        if (answered.size === TYPES.length && awaiting.size === 0) {
          isSynced = true;
          initialVersion ??= version;
          if (++syncedCount === ids.length) reportSynced!();
        }
        return;
      }
      let list = acks.get(version);
      if (!list) acks.set(version, (list = new Float64Array(ids.length)));
      list[i] = Math.max(list[i]!, at);
    });
    call.on("error", (e) => process.stderr.write(`stream ${id}: ${(e as Error).message}\n`));
    write({ typeUrl: TYPE_URLS.cluster, ...(flavour === "sotw" ? { resourceNames: [] } : {}) });
    write({ typeUrl: TYPE_URLS.listener, ...(flavour === "sotw" ? { resourceNames: [] } : {}) });
  });
  await synced;
  send({ type: "synced", ms: Date.now() - started, channels: channels.length, version: initialVersion ?? "" });
  process.on("message", (m: Msg) => {
    if (m.type === "acks") {
      const list = acks.get(m.version as string);
      const times: number[] = [];
      if (list) for (const t of list) if (t > 0) times.push(t);
      send({ type: "acks", version: m.version, times });
    } else if (m.type === "exit") {
      for (const c of channels) c.close();
      process.exit(0);
    }
  });
}

// ---- orchestrator ----------------------------------------------------------------------------

function child(args: string[], core: string, nodeFlags: string[] = []) {
  return spawnChild(fileURLToPath(import.meta.url), args, core, nodeFlags);
}

export async function orchestrate(): Promise<void> {
  const sizes = (process.env.CLIENTS ?? "1000,5000").split(",").map(Number);
  const rounds = Number(process.env.ROUNDS ?? 5);
  const flavour = (process.env.FLAVOUR ?? "sotw") as Flavour;
  const perChannel = Number(process.env.STREAMS_PER_CHANNEL ?? 250);
  console.log(
    `node ${process.version}, ${process.platform}/${process.arch}; pipeline mode (meshgate up's control plane); ${flavour}; ${SERVICES} Services with a GAMMA route each, N Workloads + 1 Gateway; ` +
      `${perChannel} streams per HTTP/2 connection; watcher debounce ${process.env.WATCH_DEBOUNCE_MS ?? 50} ms, xDS debounce ${process.env.DEBOUNCE_MS ?? 100} ms; load average ${loadAverage()}`,
  );
  for (const n of sizes) {
    const tmp = mkdtempSync(join(tmpdir(), "meshgate-bench-"));
    const configDir = join(tmp, "config");
    writeMeshConfig(configDir, n);
    const ids = [...Array.from({ length: n }, (_, i) => sidecarNode(i)), GATEWAY_NODE];
    const prof = process.env.SERVER_CPU_PROF; // a directory: profile the server (--cpu-prof)
    const server = child(["server", configDir, join(tmp, "state")], "0", ["--expose-gc", ...(process.env.TRACE_GC ? ["--trace-gc"] : []), ...(prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : [])]);
    const ready = (await next(server, "ready")) as unknown as { port: number; initial: CompileReport };
    console.log(`\n${n} workloads: initial compile translate ${f1(ready.initial.translateMs)} ms, certificates ${f1(ready.initial.certificatesMs)} ms, snapshot ${f1(ready.initial.snapshotMs)} ms (${ready.initial.encoded} resources encoded)`);
    const clients = child(["clients", String(ready.port), String(n), String(perChannel), flavour], "1");
    const synced = (await next(clients, "synced", 600_000)) as unknown as { ms: number; channels: number };
    await new Promise((r) => setTimeout(r, 500));
    const mem = (await (server.send({ type: "memory" }), next(server, "memory"))) as unknown as { baseline: Memory; configured: Memory; after: Memory; summary: string };
    const streams = ids.length;
    console.log(`${streams} proxies on ${synced.channels} connections: initial sync (CDS, LDS, then EDS and RDS as named) in ${f1(synced.ms)} ms; ${mem.summary}`);
    const per = (from: Memory, k: keyof Memory) => (mem.after[k] - from[k]) / streams / 1024;
    console.log(
      `server memory per proxy, whole control plane (before loading the configuration -> all synced): RSS ${f1(per(mem.baseline, "rss"))} KiB, heap ${f1(per(mem.baseline, "heapUsed"))} KiB, buffers ${f1(per(mem.baseline, "external"))} KiB ` +
        `(RSS ${f1(mem.baseline.rss / 2 ** 20)} -> ${f1(mem.configured.rss / 2 ** 20)} -> ${f1(mem.after.rss / 2 ** 20)} MiB)`,
    );
    console.log(`server memory per proxy, connection only (configuration compiled -> all synced): RSS ${f1(per(mem.configured, "rss"))} KiB, heap ${f1(per(mem.configured, "heapUsed"))} KiB, buffers ${f1(per(mem.configured, "external"))} KiB`);
    console.log("round  ACKed  p50 ms  p90 ms  p99 ms  max ms  all ACKed  | watch  debounce  load  model  translate  certs  snapshot  xDS debounce+push  delivery+ACK | server CPU ms");
    const all: number[] = [];
    const totals: number[] = [];
    for (let r = 1; r <= rounds; r++) {
      const wroteAt = Date.now();
      writeSplit(configDir, r);
      const c = (await next(server, "compiled")) as unknown as { report: CompileReport; load: { changedAt?: number; startedAt: number; loadMs: number; modelMs: number } };
      const v = c.report.version;
      const conv = (await next(server, "converged")) as unknown as { version: string; updatedAt: number; appliedAt: number; convergedAt: number; proxies: number; cpuMs: number };
      if (conv.version !== v) throw new Error(`round ${r}: converged ${conv.version}, expected ${v}`);
      clients.send({ type: "acks", version: v });
      const { times } = (await next(clients, "acks")) as unknown as { times: number[] };
      if (times.length < n) throw new Error(`round ${r}: only ${times.length} of ${n} sidecars ACKed version ${v}`);
      const lat = times.map((t) => t - wroteAt).sort((a, b) => a - b);
      const lastAck = wroteAt + lat[lat.length - 1]!;
      all.push(...lat);
      totals.push(lastAck - wroteAt);
      const L = c.load;
      const phases = [
        (L.changedAt ?? L.startedAt) - wroteAt,
        L.changedAt !== undefined ? L.startedAt - L.changedAt : 0,
        L.loadMs,
        L.modelMs,
        c.report.translateMs,
        c.report.certificatesMs,
        c.report.snapshotMs,
        conv.appliedAt - conv.updatedAt,
        lastAck - conv.appliedAt,
      ];
      console.log(
        `${String(r).padStart(5)}  ${String(times.length).padStart(5)}  ${[50, 90, 99, 100].map((p) => f1(percentile(lat, p)).padStart(6)).join("  ")}  ${f1(lastAck - wroteAt).padStart(9)}  | ${phases.map((x) => f1(x).padStart(5)).join("  ")} | ${f1(conv.cpuMs)}`,
      );
      await new Promise((res) => setTimeout(res, 500));
    }
    all.sort((a, b) => a - b);
    totals.sort((a, b) => a - b);
    console.log(`  all         ${[50, 90, 99, 100].map((p) => f1(percentile(all, p)).padStart(6)).join("  ")}  ${f1(percentile(totals, 50)).padStart(9)}  (median round)   load average ${loadAverage()}`);
    server.send({ type: "exit" });
    clients.send({ type: "exit" });
    await Promise.all([new Promise((r) => server.on("exit", r)), new Promise((r) => clients.on("exit", r))]);
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (role === "server") await runServer(process.argv[3]!, process.argv[4]!);
else if (role === "clients") {
  const n = Number(process.argv[4]);
  await runClients(Number(process.argv[3]), [...Array.from({ length: n }, (_, i) => sidecarNode(i)), GATEWAY_NODE], Number(process.argv[5]), process.argv[6] as Flavour);
} else if (role === "orchestrator" && process.argv[1] === fileURLToPath(import.meta.url)) await orchestrate();
