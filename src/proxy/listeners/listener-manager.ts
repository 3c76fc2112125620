// The proxy's listeners: binds the socket addresses of the Listener resources it is
// given and keeps them in step with each update.
//
// An update is all-or-nothing from the caller's view: every Listener is compiled first
// (an unsupported field or a missing secret rejects the update before anything
// changes), then new addresses are bound (a bind failure closes what this update bound
// and rejects), and only then are existing listeners updated in place and removed ones
// drained. Listeners keyed by address: a listener whose address is unchanged keeps its
// socket and its open connections, whatever else changed.

import { ListenerBindError, ListenerInvalidError, MeshgateError } from "../../errors.js";
import type { Logger } from "../../telemetry/logger.js";
import type { EnvoyResource, RequestHandler } from "../contracts.js";
import { BoundListener, type ListenerEnv } from "./bound-listener.js";
import { HttpServerPool } from "./http-servers.js";
import { compileListener, isApiListener, type CompiledListener } from "./listener-config.js";
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

export class ListenerManager {
  private readonly logger: Logger | undefined;
  private readonly drainTimeoutMs: number;
  private readonly contexts = new SecureContextCache();
  private readonly env: ListenerEnv;
  /** By address key. */
  private listeners = new Map<string, BoundListener>();
  private readonly draining = new Set<Promise<void>>();
  /** Updates run one at a time, in call order. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(opts: ListenerManagerOptions = {}) {
    this.logger = opts.logger;
    this.drainTimeoutMs = opts.drainTimeoutMs ?? 30_000;
    this.env = { pool: new HttpServerPool(this.logger), logger: this.logger };
  }

  apply(listeners: ReadonlyMap<string, EnvoyResource>, secrets: ReadonlyMap<string, EnvoyResource>, handler: RequestHandler): Promise<void> {
    const run = this.queue.then(() => this.applyNow(listeners, secrets, handler));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The addresses bound right now (the port the system chose for port 0). */
  bound(): { name: string; address: string; port: number }[] {
    return [...this.listeners.values()].map((l) => ({ name: l.config.name, ...l.address() }));
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

  private async applyNow(resources: ReadonlyMap<string, EnvoyResource>, secrets: ReadonlyMap<string, EnvoyResource>, handler: RequestHandler): Promise<void> {
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
      throw err instanceof MeshgateError ? err : new ListenerInvalidError("*", "listeners", (err as Error).message);
    }

    // 2. Bind new addresses; on failure undo this step only.
    const added: BoundListener[] = [];
    for (const [key, c] of compiled) {
      if (this.listeners.has(key)) continue;
      const l = new BoundListener(c, handler, this.env);
      try {
        await l.listen();
      } catch (err) {
        await Promise.all(added.map((a) => a.close(0)));
        this.contexts.abandon();
        const e = err as NodeJS.ErrnoException;
        throw new ListenerBindError(c.name, `${c.host}:${c.port}`, bindReason(e), err);
      }
      added.push(l);
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
    this.listeners = next;
    this.contexts.commit();
    for (const l of added) this.logger?.info({ listener: l.config.name, ...l.address() }, "listener bound");
  }
}

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
