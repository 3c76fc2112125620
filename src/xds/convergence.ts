// Which configuration each connected proxy actually runs. The ADS server reports every
// response it sends and every ACK and NACK it receives; this turns them into a status
// per proxy and resource type (SYNCED, STALE, NACKED) and into the one number operators
// ask for: "config version V is live on all N proxies", and how long that took.
//
// A proxy whose resources a new version does not change receives nothing (pushing
// identical bytes to thousands of proxies costs CPU for no effect), so "ACKed version V"
// here means "ACKed a response whose content is still what version V serves": when the
// server tells the tracker a type is unchanged under V, an ACKed type moves to V at once
// and a pending response will count for V when it is ACKed.

import type { ResourceKind } from "./envoy-protos.js";

export type XdsFlavour = "sotw" | "delta";
export type SyncStatus = "SYNCED" | "STALE" | "NACKED";

/** Resource kinds as xDS names them, in the order status tables show them. */
export const XDS_NAMES: Readonly<Record<ResourceKind, string>> = { cluster: "CDS", listener: "LDS", endpoint: "EDS", route: "RDS", secret: "SDS" };
export const REPORT_ORDER: readonly ResourceKind[] = ["cluster", "listener", "endpoint", "route", "secret"];

export interface TypeSyncState {
  sent?: { version: string; nonce: string; at: number };
  acked?: { version: string; at: number };
  nacked?: { version: string; nonce: string; detail: string; at: number };
}

interface TypeRecord extends TypeSyncState {
  /** The snapshot version the content of the last response is still valid for. */
  covers?: string;
  ackedNonce?: string;
}

interface ProxyRecord {
  readonly streamId: number;
  readonly nodeId: string;
  readonly flavour: XdsFlavour;
  readonly connectedAt: number;
  readonly peer: string;
  readonly identity: string | undefined;
  /** The snapshot version this proxy should run (its NodeSnapshot's). */
  target: string | undefined;
  readonly types: Map<ResourceKind, TypeRecord>;
  synced: boolean;
}

export interface VersionHistoryEntry {
  readonly version: string;
  /** When `update()` was called with this version (ms since the epoch). */
  readonly updatedAt: number;
  /** When it was put in force (after the debounce); absent when a newer version replaced it first. */
  appliedAt?: number;
  supersededAt?: number;
  /** When every connected proxy had ACKed it, and how many there were. */
  convergedAt?: number;
  proxies?: number;
}

export interface ProxySyncReport {
  readonly id: string;
  /** `gateway`, `sidecar`, or `client` for node ids that do not follow `role~namespace~name`. */
  readonly role: string;
  readonly flavour: XdsFlavour;
  readonly peer: string;
  readonly identity: string | null;
  readonly connectedAt: string;
  readonly version: string | null;
  readonly status: SyncStatus;
  readonly types: Partial<
    Record<
      string,
      {
        status: SyncStatus;
        sent: { version: string; nonce: string; at: string } | null;
        acked: { version: string; at: string } | null;
        nacked: { version: string; detail: string; at: string } | null;
      }
    >
  >;
}

export interface SyncSummary {
  readonly version: string | null;
  readonly proxies: number;
  readonly synced: number;
  readonly stale: number;
  readonly nacked: number;
  readonly converged: boolean;
  /** From `update()` of the version to the last ACK of it; null until converged. */
  readonly convergedInMs: number | null;
  readonly text: string;
}

export interface SyncReport {
  readonly generatedAt: string;
  readonly summary: SyncSummary;
  readonly proxies: readonly ProxySyncReport[];
  readonly history: readonly {
    version: string;
    updatedAt: string;
    appliedAt: string | null;
    superseded: boolean;
    convergedInMs: number | null;
    proxies: number | null;
  }[];
}

export interface ConvergenceOptions {
  /** How many versions the history keeps (default 20). */
  readonly historySize?: number;
  /** Milliseconds since the epoch, sub-millisecond precision by default. */
  readonly now?: () => number;
  /** Called once per version when it is live on every connected proxy. */
  readonly onConverged?: (entry: Readonly<VersionHistoryEntry>) => void;
}

const preciseNow = () => performance.timeOrigin + performance.now();

export class ConvergenceTracker {
  private readonly proxies = new Map<number, ProxyRecord>();
  private readonly history: VersionHistoryEntry[] = [];
  private current: VersionHistoryEntry | undefined;
  private syncedCount = 0;
  private readonly now: () => number;
  private readonly historySize: number;

  constructor(private readonly options: ConvergenceOptions = {}) {
    this.now = options.now ?? preciseNow;
    this.historySize = options.historySize ?? 20;
  }

  /** `update()` was called with this version (the clock for convergence starts here). */
  versionUpdated(version: string): void {
    if (this.history.some((h) => h.version === version)) return;
    const pending = this.history.find((h) => h.appliedAt === undefined && h.supersededAt === undefined);
    if (pending) pending.supersededAt = this.now();
    this.history.push({ version, updatedAt: this.now() });
    while (this.history.length > this.historySize) this.history.shift();
  }

  /** The version is now served; every proxy's status is measured against it. */
  versionApplied(version: string): void {
    let entry = this.history.find((h) => h.version === version);
    if (!entry) {
      this.versionUpdated(version);
      entry = this.history.find((h) => h.version === version)!;
    }
    for (const h of this.history) if (h !== entry && h.appliedAt === undefined && h.supersededAt === undefined) h.supersededAt = this.now();
    entry.appliedAt ??= this.now();
    this.current = entry;
    this.syncedCount = 0;
    for (const p of this.proxies.values()) {
      p.synced = this.computeStatus(p) === "SYNCED";
      if (p.synced) this.syncedCount++;
    }
    this.checkConverged();
  }

  get currentVersion(): string | undefined {
    return this.current?.version;
  }

  connect(streamId: number, info: { nodeId: string; flavour: XdsFlavour; peer: string; identity?: string | undefined }): void {
    this.proxies.set(streamId, {
      streamId,
      nodeId: info.nodeId,
      flavour: info.flavour,
      peer: info.peer,
      identity: info.identity,
      connectedAt: this.now(),
      target: undefined,
      types: new Map(),
      synced: false,
    });
  }

  disconnect(streamId: number): void {
    const p = this.proxies.get(streamId);
    if (!p) return;
    this.proxies.delete(streamId);
    if (p.synced) this.syncedCount--;
    this.checkConverged();
  }

  setTarget(streamId: number, version: string): void {
    this.mutate(streamId, (p) => {
      p.target = version;
    });
  }

  subscribed(streamId: number, kind: ResourceKind): void {
    this.mutate(streamId, (p) => {
      if (!p.types.has(kind)) p.types.set(kind, {});
    });
  }

  sent(streamId: number, kind: ResourceKind, version: string, nonce: string): void {
    this.mutate(streamId, (p) => {
      const t = typeRecord(p, kind);
      t.sent = { version, nonce, at: this.now() };
      t.covers = version;
    });
  }

  /** Version `version` serves this proxy the same content of this type as its last response. */
  unchanged(streamId: number, kind: ResourceKind, version: string): void {
    this.mutate(streamId, (p) => {
      const t = p.types.get(kind);
      if (!t?.sent) return;
      t.covers = version;
      if (t.acked && t.ackedNonce === t.sent.nonce && t.acked.version !== version) t.acked = { version, at: t.acked.at };
    });
  }

  acked(streamId: number, kind: ResourceKind, nonce: string): void {
    this.mutate(streamId, (p) => {
      const t = p.types.get(kind);
      if (!t?.sent || t.sent.nonce !== nonce) return;
      t.acked = { version: t.covers ?? t.sent.version, at: this.now() };
      t.ackedNonce = nonce;
      delete t.nacked;
    });
  }

  nacked(streamId: number, kind: ResourceKind, nonce: string, detail: string): void {
    this.mutate(streamId, (p) => {
      const t = p.types.get(kind);
      if (!t?.sent || t.sent.nonce !== nonce) return;
      t.nacked = { version: t.sent.version, nonce, detail, at: this.now() };
    });
  }

  statusOf(streamId: number): SyncStatus | undefined {
    const p = this.proxies.get(streamId);
    return p && this.computeStatus(p);
  }

  /** The versions in force and recently replaced, oldest first. */
  versions(): readonly Readonly<VersionHistoryEntry>[] {
    return this.history;
  }

  summary(): SyncSummary {
    const entry = this.current;
    let synced = 0;
    let stale = 0;
    let nacked = 0;
    for (const p of this.proxies.values()) {
      const s = this.computeStatus(p);
      if (s === "SYNCED") synced++;
      else if (s === "NACKED") nacked++;
      else stale++;
    }
    const n = this.proxies.size;
    const convergedInMs = entry?.convergedAt !== undefined ? round(entry.convergedAt - entry.updatedAt) : null;
    const converged = n > 0 && synced === n;
    let text: string;
    if (!entry) text = "no configuration version served yet";
    else if (n === 0) text = `config version ${entry.version}: no proxies connected`;
    else if (converged) text = `config version ${entry.version} is live on all ${n} ${n === 1 ? "proxy" : "proxies"}${convergedInMs !== null ? ` (converged in ${convergedInMs} ms)` : ""}`;
    else {
      const missing = [...this.proxies.values()].filter((p) => this.computeStatus(p) !== "SYNCED");
      const named = missing.slice(0, 5).map((p) => `${p.nodeId} (${this.computeStatus(p)})`);
      text = `config version ${entry.version} is live on ${synced} of ${n} proxies; not yet: ${named.join(", ")}${missing.length > 5 ? ` and ${missing.length - 5} more` : ""}`;
    }
    return { version: entry?.version ?? null, proxies: n, synced, stale, nacked, converged, convergedInMs: converged ? convergedInMs : null, text };
  }

  report(): SyncReport {
    const iso = (t: number) => new Date(t).toISOString();
    const proxies = [...this.proxies.values()]
      .sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : a.streamId - b.streamId))
      .map((p): ProxySyncReport => {
        const types: ProxySyncReport["types"] = {};
        for (const kind of REPORT_ORDER) {
          const t = p.types.get(kind);
          if (!t) continue;
          types[XDS_NAMES[kind]] = {
            status: typeStatus(t, p.target),
            sent: t.sent ? { version: t.sent.version, nonce: t.sent.nonce, at: iso(t.sent.at) } : null,
            acked: t.acked ? { version: t.acked.version, at: iso(t.acked.at) } : null,
            nacked: t.nacked ? { version: t.nacked.version, detail: t.nacked.detail, at: iso(t.nacked.at) } : null,
          };
        }
        return {
          id: p.nodeId,
          role: roleOf(p.nodeId),
          flavour: p.flavour,
          peer: p.peer,
          identity: p.identity ?? null,
          connectedAt: iso(p.connectedAt),
          version: p.target ?? null,
          status: this.computeStatus(p),
          types,
        };
      });
    return {
      generatedAt: iso(this.now()),
      summary: this.summary(),
      proxies,
      history: this.history.map((h) => ({
        version: h.version,
        updatedAt: iso(h.updatedAt),
        appliedAt: h.appliedAt !== undefined ? iso(h.appliedAt) : null,
        superseded: h.supersededAt !== undefined,
        convergedInMs: h.convergedAt !== undefined ? round(h.convergedAt - h.updatedAt) : null,
        proxies: h.proxies ?? null,
      })),
    };
  }

  private computeStatus(p: ProxyRecord): SyncStatus {
    if (p.types.size === 0 || p.target === undefined) return "STALE";
    let stale = false;
    for (const t of p.types.values()) {
      const s = typeStatus(t, p.target);
      if (s === "NACKED") return "NACKED";
      if (s === "STALE") stale = true;
    }
    return stale ? "STALE" : "SYNCED";
  }

  private mutate(streamId: number, fn: (p: ProxyRecord) => void): void {
    const p = this.proxies.get(streamId);
    if (!p) return;
    fn(p);
    const synced = this.computeStatus(p) === "SYNCED";
    if (synced !== p.synced) {
      p.synced = synced;
      this.syncedCount += synced ? 1 : -1;
      if (synced) this.checkConverged();
    }
  }

  private checkConverged(): void {
    const entry = this.current;
    if (!entry || entry.convergedAt !== undefined || this.proxies.size === 0 || this.syncedCount !== this.proxies.size) return;
    entry.convergedAt = this.now();
    entry.proxies = this.proxies.size;
    this.options.onConverged?.(entry);
  }
}

function typeRecord(p: ProxyRecord, kind: ResourceKind): TypeRecord {
  let t = p.types.get(kind);
  if (!t) p.types.set(kind, (t = {}));
  return t;
}

function typeStatus(t: TypeRecord, target: string | undefined): SyncStatus {
  if (t.nacked && t.sent && t.nacked.nonce === t.sent.nonce) return "NACKED";
  return t.acked && target !== undefined && t.acked.version === target && t.ackedNonce === t.sent?.nonce ? "SYNCED" : "STALE";
}

function roleOf(nodeId: string): string {
  const parts = nodeId.split("~");
  return parts.length === 3 && parts[0] ? parts[0] : "client";
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
