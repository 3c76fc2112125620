// One bound socket address and the connections accepted on it. Per connection: peek the
// first bytes (TLS ClientHello, HTTP/2 prior-knowledge preface, or HTTP/1.1), choose the
// filter chain (SNI: exact, longest wildcard, then the chain without server names), do
// the TLS handshake with that chain's certificate and ALPN, and hand the socket to the
// HTTP/1.1 server (http1-server.ts) or HTTP/2 server (http2-server.ts), both meshgate's own
// for the chain's limits.

import * as net from "node:net";
import * as tls from "node:tls";
import type { Logger } from "../../telemetry/logger.js";
import type { RequestHandler } from "../contracts.js";
import { looksLikeTls, MAX_CLIENT_HELLO_BYTES, parseClientHello } from "./client-hello.js";
import { Connection, kConnection, type ConnectionOwner, type WithConnection } from "./connection.js";
import type { HttpServerPool } from "./http-servers.js";
import type { CompiledChain, CompiledListener } from "./listener-config.js";
import type { ListenerStats } from "./listener-stats.js";
import { pickCertificate, sanMatches, spiffeIdOf, splitSubjectAltName, uriSansOf, type ServingCertificate } from "./tls-contexts.js";

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** What every bound listener of a manager shares. */
export interface ListenerEnv {
  readonly pool: HttpServerPool;
  readonly logger: Logger | undefined;
  readonly stats: ListenerStats;
}

export class BoundListener implements ConnectionOwner {
  /** Replaced when the listener stops accepting and is bound again (see stopAccepting). */
  private server: net.Server;
  readonly connections = new Set<Connection>();
  /** False while the socket is released (another listener of an update needs its port). */
  accepting = false;
  private released = false;
  private closing: Promise<void> | undefined;
  private drained: (() => void) | undefined;

  constructor(
    public config: CompiledListener,
    public handler: RequestHandler,
    private readonly env: ListenerEnv,
  ) {
    this.server = this.createServer();
  }

  private createServer(): net.Server {
    return net.createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  /**
   * Binds; rejects with the system error (EADDRINUSE, EACCES, ...). May be called again
   * after a failure, and after `stopAccepting` (with a fresh server: a closed one may not
   * listen again).
   */
  listen(): Promise<void> {
    if (this.accepting || this.closing) return Promise.resolve();
    if (this.released) {
      this.released = false;
      this.server = this.createServer();
    }
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        this.server.removeListener("listening", onListening);
        reject(err);
      };
      const onListening = (): void => {
        this.server.removeListener("error", onError);
        this.server.on("error", (err) => this.env.logger?.error({ listener: this.config.name, err: err.message }, "listener socket error"));
        this.accepting = true;
        resolve();
      };
      this.server.once("error", onError);
      this.server.once("listening", onListening);
      // Plain host/port: works in node:cluster workers (the primary shares the handle).
      this.server.listen({ host: this.config.host, port: this.config.port, backlog: 511 });
    });
  }

  address(): { address: string; port: number } {
    const a = this.server.address();
    return a && typeof a === "object" ? { address: a.address, port: a.port } : { address: this.config.host, port: this.config.port };
  }

  /**
   * Stops accepting and releases the address, keeping the open connections: the address
   * is needed by another listener of the same update. `listen` undoes it.
   */
  stopAccepting(): void {
    if (!this.accepting) return;
    this.accepting = false;
    this.released = true;
    this.server.close();
  }

  /** New configuration for the same address: connections keep going on the chain of the same name. */
  update(config: CompiledListener, handler: RequestHandler): void {
    this.config = config;
    this.handler = handler;
    for (const conn of this.connections) {
      const old = conn.chain;
      if (old === undefined) continue; // still handshaking: chosen from the new config
      const next = config.chains.get(old.name);
      if (next !== undefined && (next.tls === undefined) === (old.tls === undefined)) conn.chain = next;
      else conn.drain();
    }
  }

  /** Stop accepting; drain connections; after `graceMs`, destroy what is left. */
  close(graceMs: number): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      this.drained = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      this.accepting = false;
      this.server.close();
      if (this.connections.size === 0) {
        this.drained();
        return;
      }
      timer = setTimeout(() => {
        for (const c of this.connections) {
          c.socket.destroy();
          c.app?.destroy();
        }
      }, graceMs);
      timer.unref();
      for (const c of [...this.connections]) c.drain();
    });
    return this.closing;
  }

  connectionClosed(conn: Connection): void {
    conn.closed = true;
    this.connections.delete(conn);
    if (this.drained && this.connections.size === 0) this.drained();
  }

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const conn = new Connection(this, socket);
    (socket as WithConnection)[kConnection] = conn;
    this.connections.add(conn);
    socket.on("error", ignore);
    socket.once("close", onRawClose);
    sniff(conn, this, this.env);
  }
}

function ignore(): void {}

function onRawClose(this: net.Socket): void {
  const conn = (this as WithConnection)[kConnection];
  if (conn) conn.owner.connectionClosed(conn);
}

/** Reads until the protocol is known, then hands the socket on (bytes read are put back). */
function sniff(conn: Connection, listener: BoundListener, env: ListenerEnv): void {
  const socket = conn.socket;
  let buffered: Buffer | undefined;
  const timer = setTimeout(() => socket.destroy(), listener.config.handshakeTimeoutMs);
  const onData = (chunk: Buffer): void => {
    buffered = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
    const config = listener.config;
    let tlsServerName: string | undefined;
    let isTls = false;
    let isH2c = false;
    if (config.hasTls && looksLikeTls(buffered)) {
      const hello = parseClientHello(buffered);
      if (hello.kind === "incomplete") {
        if (buffered.length > MAX_CLIENT_HELLO_BYTES) socket.destroy();
        return;
      }
      if (hello.kind === "invalid") {
        socket.destroy();
        return;
      }
      isTls = true;
      tlsServerName = hello.serverName;
    } else {
      const n = Math.min(buffered.length, H2_PREFACE.length);
      if (buffered.compare(H2_PREFACE, 0, n, 0, n) === 0) {
        if (n < H2_PREFACE.length) return; // could still be the preface
        isH2c = true;
      }
    }
    socket.removeListener("data", onData);
    socket.pause();
    socket.unshift(buffered);
    buffered = undefined;
    if (isTls) {
      const chain = selectTlsChain(config, tlsServerName);
      if (chain === undefined || (chain.tls!.requireSni && tlsServerName === undefined)) {
        clearTimeout(timer);
        socket.destroy();
        return;
      }
      startTls(conn, chain, tlsServerName, timer, env);
      return;
    }
    clearTimeout(timer);
    const chain = config.plaintext;
    if (chain === undefined || (isH2c && chain.codec === "HTTP1")) {
      socket.destroy();
      return;
    }
    conn.chain = chain;
    conn.app = socket;
    const servers = env.pool.get(chain.limits);
    if (isH2c || chain.codec === "HTTP2") {
      servers.h2.accept(conn, socket); // reads the put-back bytes first
    } else {
      servers.h1.accept(conn, socket); // reads the put-back bytes first
    }
  };
  socket.on("data", onData);
}

/** Exact server name, then the longest matching wildcard, then the chain without names. */
export function selectTlsChain(config: CompiledListener, serverName: string | undefined): CompiledChain | undefined {
  if (serverName !== undefined) {
    const exact = config.tlsByName.get(serverName);
    if (exact) return exact;
    if (config.tlsByWildcard.size > 0) {
      for (let dot = serverName.indexOf("."); dot > 0; dot = serverName.indexOf(".", dot + 1)) {
        const w = config.tlsByWildcard.get(serverName.slice(dot));
        if (w) return w;
      }
    }
  }
  return config.tlsDefault;
}

function startTls(conn: Connection, chain: CompiledChain, serverName: string | undefined, timer: NodeJS.Timeout, env: ListenerEnv): void {
  const t = chain.tls!;
  conn.chain = chain;
  const served = pickCertificate(t.certificates, serverName);
  const tlsSocket = new tls.TLSSocket(conn.socket, {
    isServer: true,
    secureContext: served.context,
    ...(t.alpn !== undefined ? { ALPNProtocols: t.alpn } : {}),
    requestCert: t.requestCert,
    rejectUnauthorized: t.requireCert,
  });
  (tlsSocket as WithConnection)[kConnection] = conn;
  conn.app = tlsSocket;
  tlsSocket.on("error", (err) => {
    env.logger?.debug({ listener: chain.ref.listenerName, err: err.message }, "TLS handshake failed");
    tlsSocket.destroy();
  });
  tlsSocket.once("close", () => {
    clearTimeout(timer);
    conn.socket.destroy();
  });
  tlsSocket.once("secure", () => {
    clearTimeout(timer);
    // What tls.Server does on handshake completion (code reading the TLS socket's state expects it).
    (tlsSocket as unknown as { secureConnecting: boolean }).secureConnecting = false;
    onHandshakeDone(tlsSocket, conn, chain, serverName, served, env);
  });
}

/**
 * Node's TLS socket accepts any client certificate during the handshake and leaves the
 * verdict for later (tls.Server reads it the same way, from the handle's verifyError).
 * Returns why the certificate is not trusted, or undefined when it is.
 */
function clientCertificateError(tlsSocket: tls.TLSSocket): (Error & { code?: string }) | undefined {
  const handle = (tlsSocket as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  if (typeof handle?.verifyError !== "function") return new Error("the TLS handle gives no verification result"); // fail closed
  return handle.verifyError() ?? undefined;
}

/**
 * A rejected client certificate is logged as a warning (on a sidecar it is usually a
 * trust mismatch between meshes: the caller's root is not in this listener's bundle),
 * once per listener, peer identity and reason per minute, so a peer that retries, or
 * many clients, cannot flood the log. The connection is closed without an HTTP answer,
 * so this line is the only place the reason shows.
 */
const REJECTION_LOG_INTERVAL_MS = 60_000;
const loggedRejections = new Map<string, number>();

function logRejectedClientCertificate(env: ListenerEnv, listener: string, peer: string | undefined, err: Error & { code?: string }): void {
  if (!env.logger) return;
  const key = `${listener}|${peer ?? ""}|${err.code ?? err.message}`;
  const now = Date.now();
  const last = loggedRejections.get(key);
  if (last !== undefined && now - last < REJECTION_LOG_INTERVAL_MS) return;
  if (loggedRejections.size >= 256) loggedRejections.clear();
  loggedRejections.set(key, now);
  env.logger.warn(
    { listener, ...(peer !== undefined ? { peer } : {}) },
    `client certificate${peer !== undefined ? ` of ${peer}` : ""} rejected: ${err.message}${err.code ? ` (${err.code})` : ""}${UNKNOWN_ISSUER.has(err.code ?? "") ? "; this listener's trust bundle does not hold the root its chain leads to" : ""}`,
  );
}

/** OpenSSL's verify results that mean "signed by a root this side does not trust". */
const UNKNOWN_ISSUER = new Set(["UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "UNABLE_TO_GET_ISSUER_CERT", "SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"]);

/** Handshake done: verify the peer per the chain, record the TLS facts, then start HTTP. */
function onHandshakeDone(tlsSocket: tls.TLSSocket, conn: Connection, chain: CompiledChain, serverName: string | undefined, served: ServingCertificate, env: ListenerEnv): void {
  const t = chain.tls!;
  let peerSubjectAltName: string | undefined;
  let peerCertificateHash: string | undefined;
  if (t.requestCert) {
    const peer = tlsSocket.getPeerCertificate();
    const presented = peer !== null && peer !== undefined && Object.keys(peer).length > 0;
    if (presented) {
      // With an optional client certificate, one that is presented must still verify.
      const untrusted = clientCertificateError(tlsSocket);
      if (untrusted !== undefined) {
        logRejectedClientCertificate(env, chain.ref.listenerName, spiffeIdOf(peer.subjectaltname) ?? peer.subjectaltname, untrusted);
        tlsSocket.destroy();
        return;
      }
      peerSubjectAltName = peer.subjectaltname;
      // Node's fingerprint is the SHA-256 of the DER, as colon-separated uppercase hex.
      peerCertificateHash = peer.fingerprint256.replaceAll(":", "").toLowerCase();
      if (t.sanMatchers !== undefined && !sanMatches(peerSubjectAltName, t.sanMatchers)) {
        env.logger?.debug({ listener: chain.ref.listenerName }, "client certificate SAN not allowed");
        tlsSocket.destroy();
        return;
      }
    } else if (t.requireCert) {
      tlsSocket.destroy();
      return;
    }
  }
  const peerSpiffeId = spiffeIdOf(peerSubjectAltName);
  conn.tls = {
    ...(serverName !== undefined ? { serverName } : {}),
    ...(peerSpiffeId !== undefined ? { peerSpiffeId } : {}),
    ...(peerSubjectAltName !== undefined ? { peerSubjectAltName } : {}),
    ...(peerCertificateHash !== undefined ? { peerCertificateHash, peerUriSans: peerSubjectAltName ? uriSansOf(splitSubjectAltName(peerSubjectAltName)) : [] } : {}),
    localUriSans: served.uriSans,
  };
  conn.scheme = "https";
  const servers = env.pool.get(chain.limits);
  if (tlsSocket.alpnProtocol === "h2" || chain.codec === "HTTP2") servers.h2.accept(conn, tlsSocket);
  else servers.h1.accept(conn, tlsSocket);
}
