// One downstream connection: what the listener learnt when accepting it (addresses, TLS
// facts, the filter chain it matched) and how to drain it. The HTTP exchanges of the
// connection read these fields instead of asking the socket on every request.

import type * as net from "node:net";
import type { H2ServerSession } from "../http2/server-session.js";
import type { DownstreamTls, RequestHandler } from "../contracts.js";
import type { CompiledChain } from "./listener-config.js";

/** Where a connection's requests go; the bound listener it was accepted on. */
export interface ConnectionOwner {
  /** The handler of the current configuration (swapped by `apply`). */
  readonly handler: RequestHandler;
  connectionClosed(conn: Connection): void;
}

/** Stored on the raw socket, the TLS socket and the HTTP/2 session. */
export const kConnection: unique symbol = Symbol("meshgate.connection");

export type WithConnection = { [kConnection]?: Connection };

export class Connection {
  /** Set once the filter chain is chosen; updated in place when the listener is. */
  chain: CompiledChain | undefined = undefined;
  scheme: "http" | "https" = "http";
  tls: DownstreamTls | undefined = undefined;
  /** The socket HTTP runs on (the TLS socket for TLS chains). */
  app: net.Socket | undefined = undefined;
  h2: H2ServerSession | undefined = undefined;
  /** The HTTP/1.1 connection while the socket carries HTTP/1.1. */
  h1: { drain(): void } | undefined = undefined;
  /** HTTP/2: the id of the last stream handed to the handler (header blocks complete up to it). */
  lastStreamId = 0;
  /** HTTP/1.1 Upgrade: the socket left HTTP (a tunnel, or a last response before closing). */
  upgraded = false;
  draining = false;
  closed = false;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;

  constructor(
    readonly owner: ConnectionOwner,
    readonly socket: net.Socket,
  ) {
    this.remoteAddress = socket.remoteAddress ?? "";
    this.remotePort = socket.remotePort ?? 0;
    this.localAddress = socket.localAddress ?? "";
    this.localPort = socket.localPort ?? 0;
  }

  /**
   * Stop taking requests: idle connections close now; a busy HTTP/1.1 connection closes
   * after its current response, an HTTP/2 one after GOAWAY once its streams are done.
   */
  drain(): void {
    if (this.closed) return;
    this.draining = true;
    // A tunnel has no requests to stop between: it runs until either side closes it, or
    // the drain timeout.
    if (this.upgraded) return;
    if (this.h2) {
      this.h2.close();
      return;
    }
    if (this.h1) {
      this.h1.drain();
      return;
    }
    // Not handed to HTTP yet (sniffing, handshake).
    this.socket.destroy();
    this.app?.destroy();
  }
}

/** What an exchange (HTTP/1.1 or HTTP/2) reads from its connection instead of the socket. */
export abstract class ConnectionFacts {
  constructor(readonly conn: Connection) {}

  get scheme(): "http" | "https" {
    return this.conn.scheme;
  }
  get remoteAddress(): string {
    return this.conn.remoteAddress;
  }
  get remotePort(): number {
    return this.conn.remotePort;
  }
  get localAddress(): string {
    return this.conn.localAddress;
  }
  get localPort(): number {
    return this.conn.localPort;
  }
  get tls(): DownstreamTls | undefined {
    return this.conn.tls;
  }
}
