// The proxy's listeners: binds the socket addresses of the Listener resources it is
// given and keeps them in step with each update.
//
// An update is all-or-nothing from the caller's view: every Listener is compiled first
// (an unsupported field or a missing secret rejects the update before anything
// changes), then new addresses are bound (a bind failure closes what this update bound
// and rejects), and only then are existing listeners updated in place and removed ones
// drained. Listeners keyed by address: a listener whose address is unchanged keeps its
// socket and its open connections, whatever else changed.
//
// Moving a listener to another address on the same port (0.0.0.0:P -> 127.0.0.1:P, or
// back) cannot bind the new socket while the old one listens: the old listener stops
// accepting first (its open connections go on and are drained at commit), and is bound
// again if the update fails.

import { ListenerBindError, ListenerInvalidError, MeshgateError } from "../../errors.js";
import type { Logger } from "../../telemetry/logger.js";
import type { EnvoyResource, RequestHandler } from "../contracts.js";
import { BoundListener, type ListenerEnv } from "./bound-listener.js";
import { HttpServerPool } from "./http-servers.js";
import { compileListener, isApiListener, type CompiledListener } from "./listener-config.js";
import { ListenerStats } from "./listener-stats.js";
import { SecureContextCache } from "./tls-contexts.js";

export interface ListenerManagerOptions {
  readonly logger?: Logger;
  /** How long removed listeners' connections may take to finish (default 30 s). */
  readonly drainTimeoutMs?: number;
}

export interface BoundAddress {
  readonly name: string;
  readonly address: string;
  readonly port: number;
}

interface Address {
  readonly host: string;
  readonly port: number;
}

export class ListenerManager {
  private readonly logger: Logger | undefined;
  private readonly drainTimeoutMs: number;
  private readonly contexts = new SecureContextCache();
  private readonly env: ListenerEnv;
  /** Counters of what the listeners refused or timed out (Envoy's downstream stats). */
  readonly stats: ListenerStats;
  /** By address key. */
  private listeners = new Map<string, BoundListener>();
  private readonly draining = new Set<Promise<void>>();
  /** Listeners `prepare` released for the next `apply`. */
  private prepared: BoundListener[] = [];
  /** Updates run one at a time, in call order. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(opts: ListenerManagerOptions = {}) {
    this.logger = opts.logger;
    this.drainTimeoutMs = opts.drainTimeoutMs ?? 30_000;
    this.stats = new ListenerStats();
    this.env = { pool: new HttpServerPool(this.logger, this.stats), logger: this.logger, stats: this.stats };
  }

  apply(listeners: ReadonlyMap<string, EnvoyResource>, secrets: ReadonlyMap<string, EnvoyResource>, handler: RequestHandler): Promise<void> {
    return this.enqueue(() => this.applyNow(listeners, secrets, handler));
  }

  /**
   * Releases now the listeners `apply(listeners)` would have to release, and leaves them
   * to that apply (which drains them, or binds them again when it fails). node:cluster
   * workers need this step: the primary holds a shared socket until every worker has
   * released it, so every worker releases before any of them binds.
   */
  prepare(listeners: ReadonlyMap<string, EnvoyResource>): Promise<void> {
    return this.enqueue(async () => {
      const keys = new Set<string>();
      const fresh: { name: string; address: Address }[] = [];
      for (const [name, resource] of listeners) {
        // Unreadable addresses are left to apply(), which rejects them and puts back what was released.
        const address = isApiListener(resource) ? undefined : socketAddressOf(resource);
        if (!address) continue;
        const key = address.port === 0 ? `name:${name}` : `${address.host}:${address.port}`;
        keys.add(key);
        if (!this.listeners.get(key)?.accepting) fresh.push({ name, address });
      }
      for (const { name, address } of fresh) this.prepared.push(...this.release(name, (key, old) => !keys.has(key) && conflicts(old, address)));
    });
  }

  /** The addresses bound right now (the port the system chose for port 0). */
  bound(): { name: string; address: string; port: number }[] {
    return [...this.listeners.values()].filter((l) => l.accepting).map((l) => ({ name: l.config.name, ...l.address() }));
  }

  /** Stops accepting everywhere and waits for connections to drain (bounded by drainTimeoutMs). */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    const all = [...this.listeners.values()].map((l) => l.close(this.drainTimeoutMs));
    this.listeners = new Map();
    await Promise.all([...all, ...this.draining]);
    this.env.pool.close();
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Stops accepting on the bound listeners `match` selects (by address key); returns them. */
  private release(forName: string, match: (key: string, old: CompiledListener) => boolean): BoundListener[] {
    const out: BoundListener[] = [];
    for (const [key, old] of this.listeners) {
      if (!old.accepting || !match(key, old.config)) continue;
      this.logger?.info({ listener: old.config.name, address: `${old.config.host}:${old.config.port}`, for: forName }, "listener stops accepting: its port is needed by the update");
      old.stopAccepting();
      out.push(old);
    }
    return out;
  }

  /** A failed update binds the listeners it released again; what cannot be is reported in the error. */
  private async restore(released: readonly BoundListener[]): Promise<string> {
    let problems = "";
    for (const l of released) {
      try {
        await l.listen();
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        this.logger?.error({ listener: l.config.name, address: `${l.config.host}:${l.config.port}`, err: e.message }, "listener could not be bound again after a failed update; its open connections are still served");
        problems += `; listener ${l.config.name} could not be bound again on ${l.config.host}:${l.config.port}: ${bindReason(e)}`;
      }
    }
    return problems;
  }

  private async applyNow(resources: ReadonlyMap<string, EnvoyResource>, secrets: ReadonlyMap<string, EnvoyResource>, handler: RequestHandler): Promise<void> {
    const released = this.prepared;
    this.prepared = [];
    if (this.closed) throw new ListenerInvalidError("*", "apply", "the listener manager is closed");
    // 1. Compile everything; nothing has changed if this throws.
    const compiled = new Map<string, CompiledListener>();
    try {
      for (const [key, resource] of resources) {
        if (isApiListener(resource)) continue;
        const c = compileListener(resource, secrets, this.contexts);
        if (c.name !== key) throw new ListenerInvalidError(key, "name", `the resource is named ${c.name}`);
        const other = compiled.get(c.addressKey);
        if (other) throw new ListenerInvalidError(c.name, "address", `${c.host}:${c.port} is also the address of listener ${other.name}`);
        compiled.set(c.addressKey, c);
      }
    } catch (err) {
      this.contexts.abandon();
      await this.restore(released);
      throw err instanceof MeshgateError ? err : new ListenerInvalidError("*", "listeners", (err as Error).message);
    }

    // 2. Bind new addresses; on failure undo this step only. A listener this update
    // removes that holds a conflicting address stops accepting first.
    const added: BoundListener[] = [];
    const removed = (key: string): boolean => !compiled.has(key);
    for (const [key, c] of compiled) {
      const existing = this.listeners.get(key);
      // Kept listeners keep their socket; one released earlier (a failed restore) gets another try.
      if (existing?.accepting) continue;
      const l = existing ?? new BoundListener(c, handler, this.env);
      released.push(...this.release(c.name, (k, old) => removed(k) && conflicts(old, c)));
      try {
        try {
          await l.listen();
        } catch (err) {
          // Another spelling of a conflicting host (the rule above did not see it): any
          // listener being removed from the same port is released, and the bind tried again.
          const more = (err as NodeJS.ErrnoException).code === "EADDRINUSE" && c.port !== 0 ? this.release(c.name, (k, old) => removed(k) && old.port === c.port) : [];
          if (more.length === 0) throw err;
          released.push(...more);
          await l.listen();
        }
      } catch (err) {
        await Promise.all(added.map((a) => a.close(0)));
        const notRestored = await this.restore(released);
        this.contexts.abandon();
        const e = err as NodeJS.ErrnoException;
        throw new ListenerBindError(c.name, `${c.host}:${c.port}`, bindReason(e) + notRestored, err);
      }
      if (!existing) added.push(l);
    }

    // 3. Commit: update kept listeners in place, start the new ones, drain removed ones.
    const next = new Map<string, BoundListener>();
    for (const [key, c] of compiled) {
      const existing = this.listeners.get(key);
      if (existing) {
        existing.update(c, handler);
        next.set(key, existing);
      }
    }
    for (const l of added) next.set(l.config.addressKey, l);
    for (const [key, l] of this.listeners) {
      if (next.has(key)) continue;
      this.logger?.info({ listener: l.config.name }, "listener removed; draining its connections");
      const p = l.close(this.drainTimeoutMs).finally(() => this.draining.delete(p));
      this.draining.add(p);
    }
    // Released by prepare() but kept after all (a different update than prepared for): bound again.
    for (const l of released) if (next.get(l.config.addressKey) === l && !l.accepting) await this.restore([l]);
    this.listeners = next;
    this.contexts.commit();
    for (const l of added) this.logger?.info({ listener: l.config.name, ...l.address() }, "listener bound");
  }
}

/** host and port of a Listener resource, when readable (compileListener checks it properly). */
function socketAddressOf(resource: EnvoyResource): Address | undefined {
  const sa = (resource.address as { socketAddress?: { address?: unknown; portValue?: unknown } } | undefined)?.socketAddress;
  if (typeof sa?.address !== "string") return undefined;
  const port = Number(sa.portValue ?? 0);
  return Number.isInteger(port) ? { host: sa.address, port } : undefined;
}

/**
 * Two addresses that cannot both listen on one port: the same host, or either one the
 * wildcard address (which covers every address of its family; on a dual-stack system
 * `::` covers IPv4 too).
 */
export function conflicts(a: Address, b: Address): boolean {
  if (a.port !== b.port || a.port === 0) return false;
  return a.host === b.host || WILDCARDS.has(a.host) || WILDCARDS.has(b.host);
}

const WILDCARDS = new Set(["0.0.0.0", "::", "::0", "0:0:0:0:0:0:0:0"]);

function bindReason(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case "EADDRINUSE":
      return "the address is already in use";
    case "EADDRNOTAVAIL":
      return "the address is not available on this host";
    case "EACCES":
    case "EPERM":
      return "permission denied (ports below 1024 need privileges)";
    default:
      return e.message;
  }
}
