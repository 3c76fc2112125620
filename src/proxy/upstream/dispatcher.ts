// What a Host's connection pool offers the exchange: undici's callback-style dispatch
// contract (which undici's HTTP/2 Client keeps implementing), owned here so that the
// HTTP/1.1 pool, the exchange and the health checker need no undici at all.

import type { Duplex, Readable } from "node:stream";
import type { HeaderMap } from "../contracts.js";

export interface DispatchOptions {
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  /** Lowercase names; `undefined` values are skipped. */
  readonly headers: HeaderMap;
  /** null: no body; a Buffer is sent with its length; a stream is sent as it comes. */
  readonly body: Readable | Buffer | null;
  /**
   * HTTP/1.1 Upgrade: the protocol to switch to (sent as `Connection: upgrade` and
   * `Upgrade: <protocol>`, which replace any such fields in `headers`). A 101 goes to
   * `onUpgrade`; any other answer is an ordinary response.
   */
  readonly upgrade?: string | undefined;
}

/** Header fields as received: [name, value, name, value, ...] (strings, or Buffers from undici). */
export type RawHeaders = readonly (string | Buffer)[];

/**
 * Receives one request's outcome. Exactly one of onComplete / onError ends it; onError may
 * come at any point, also after onHeaders.
 */
export interface DispatchHandler {
  /** The request has a connection; `abort` stops it (the connection is not reused). */
  onConnect(abort: (err?: Error) => void): void;
  /** Return false to pause the response until `resume` is called. 1xx responses are not given. */
  onHeaders(status: number, rawHeaders: RawHeaders, resume: () => void): boolean;
  /** Return false to pause the response until `resume` is called. */
  onData(chunk: Buffer): boolean;
  /** Trailers as raw pairs (HTTP/1.1) or an object (undici's HTTP/2 client); null or empty when none. */
  onComplete(trailers: RawHeaders | Record<string, string | string[] | undefined> | null): void;
  onError(err: Error): void;
  /**
   * A request with `upgrade` was answered 101: `socket` (with any bytes read past the
   * response head put back in front of it) carries the new protocol and is the handler's
   * from now on. This ends the request in place of onComplete.
   */
  onUpgrade?(status: number, rawHeaders: RawHeaders, socket: Duplex): void;
}

/** One endpoint's pool of connections. */
export interface UpstreamDispatcher {
  dispatch(options: DispatchOptions, handler: DispatchHandler): void;
  /** No new requests; those in flight and queued finish, then the connections close. */
  close(): Promise<void>;
  /** Fails every request in flight or queued and closes the connections now. */
  destroy(): Promise<void>;
}
