// Opens the connections of one endpoint's pool: TCP, or TLS with the cluster's upstream
// TLS settings. The SNI is the cluster's, as in Envoy, never a request's Host header.
// The signature is undici's connector's, so undici's HTTP/2 client can use it too.
// A failure is a ConnectFailure whose message names the endpoint, the cluster and the
// reason, logged once per endpoint until a connection succeeds again.

import * as net from "node:net";
import * as tls from "node:tls";
import { ConnectFailure } from "./upstream-error.js";
import { PeerIdentityError, type UpstreamTlsSettings } from "./upstream-tls.js";

/** What the connector needs to know about its endpoint (implemented by Host). */
export interface ConnectTarget {
  /** Current address to dial (for LOGICAL_DNS, the latest resolution). */
  dialAddress(): string;
  readonly port: number;
  /** `address:port` as shown in messages. */
  readonly label: string;
  readonly clusterName: string;
  onConnectFailure(message: string): void;
  onConnected(): void;
}

export interface ConnectorOptions {
  readonly connectTimeoutMs: number;
  readonly tls?: UpstreamTlsSettings;
  /** Speak HTTP/2 even without ALPN (prior knowledge, or h2c in plaintext). */
  readonly http2: boolean;
}

/** OpenSSL's certificate verification results, as Node reports them in `err.code`. */
const VERIFY_CODES = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_CRL",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECRYPT_CRL_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CRL_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "CRL_NOT_YET_VALID",
  "CRL_HAS_EXPIRED",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "CERT_CHAIN_TOO_LONG",
  "CERT_REVOKED",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "HOSTNAME_MISMATCH",
]);

/** Called once: with the connected (and, for TLS, verified) socket, or with a ConnectFailure. */
export type ConnectCallback = (err: Error | null, socket: net.Socket | null) => void;
/** Opens one connection; the options argument (undici's) is not used. */
export type Connect = (options: object, callback: ConnectCallback) => void;

export function createConnector(target: ConnectTarget, options: ConnectorOptions): Connect {
  const settings = options.tls;
  return (_opts, callback: ConnectCallback) => {
    const address = target.dialAddress();
    let settled = false;
    let socket: net.Socket;
    const fail = (reason: string, isTls: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const message = isTls ? `upstream TLS to ${target.label} (cluster ${target.clusterName}) failed: ${reason}` : `upstream connect to ${target.label} (cluster ${target.clusterName}) failed: ${reason}`;
      target.onConnectFailure(message);
      callback(new ConnectFailure(message, isTls), null);
    };
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off("error", onError);
      const s = socket as net.Socket & { alpnProtocol?: string | false };
      // ALPN decides when it was negotiated; otherwise the cluster's protocol does.
      if (options.http2 && !s.alpnProtocol) s.alpnProtocol = "h2";
      target.onConnected();
      callback(null, socket);
    };
    let tcpUp = false;
    const onError = (err: NodeJS.ErrnoException) => {
      if (!settings) return fail(err.message, false);
      if (err instanceof PeerIdentityError) return fail(err.message, true);
      if (err.code !== undefined && VERIFY_CODES.has(err.code)) return fail(`certificate verify failed: ${err.message} (CERTIFICATE_VERIFY_FAILED)`, true);
      if (!tcpUp) return fail(err.message, false);
      fail(`TLS handshake failed: ${err.message}${err.code ? ` (${err.code})` : ""}`, true);
    };
    const timer = setTimeout(() => fail(`connect timeout after ${options.connectTimeoutMs} ms`, false), options.connectTimeoutMs);
    if (settings) {
      socket = tls.connect({
        host: address,
        port: target.port,
        ...(settings.servername ? { servername: settings.servername } : {}),
        secureContext: settings.secureContext,
        ...(settings.alpn.length > 0 ? { ALPNProtocols: [...settings.alpn] } : {}),
        rejectUnauthorized: settings.verify,
        checkServerIdentity: settings.checkServerIdentity,
      });
      socket.once("connect", () => (tcpUp = true));
      socket.once("secureConnect", done);
    } else {
      socket = net.connect({ host: address, port: target.port });
      socket.once("connect", done);
    }
    socket.setNoDelay(true);
    socket.on("error", onError);
  };
}
