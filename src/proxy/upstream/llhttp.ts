// Node's own native HTTP/1 parser (llhttp, compiled into Node), as node:http's client
// and server drive it (RESPONSE mode for the upstream pool, REQUEST mode for the
// downstream HTTP/1.1 server). It is reached through `_http_common`, a module Node ships but does not
// document, because nothing documented parses HTTP/1 responses this cheaply: http.request
// builds a ClientRequest, an IncomingMessage stream and several closures per request,
// and undici carries its own llhttp compiled to wasm whose callbacks cross the wasm
// boundary per header. The native parser runs in C++ and calls back once per header
// block, once per body chunk (a Buffer of its own) and once per completed message.
//
// The binding's shape (constructor, `initialize` arguments, callback slots and their
// arguments, the error objects `execute` returns) is what Node's lib/_http_client.js and
// lib/_http_common.js rely on; test/proxy/upstream/llhttp.test.ts pins it, so a Node
// version that changes it fails there (Node aborts the process on a wrong `initialize`
// argument, so the check must not wait for production).

import { createRequire } from "node:module";

/** The parser object; callbacks live in numbered slots (HTTPParser.kOn*), called with `this` = the parser. */
export interface NativeParser {
  initialize(type: number, asyncResource: object, maxHeaderSize: number, lenientFlags: number): void;
  /** Bytes parsed, or an Error with `code` (HPE_*), `reason` and `bytesParsed`; a callback's exception propagates. */
  execute(data: Buffer): number | ParseError | undefined;
  /** Signals EOF: completes a message delimited by the connection's end, or returns an Error. */
  finish(): ParseError | undefined;
  /** Frees the native parser; it must not be called from inside one of its callbacks. */
  close(): void;
  /**
   * Milliseconds since the message being parsed began (its first byte), 0 between
   * messages. Meaningless before the parser has seen a byte.
   */
  duration(): number;
  /** Whether the header block of the message being parsed (or the last one) is complete. */
  headersCompleted(): boolean;
  /**
   * Makes the parser the reader of a native stream (a socket's `_handle`: TCP or TLS):
   * what the stream reads goes straight into `execute` (into a buffer the parser reuses),
   * not through the socket's JavaScript stream; kOnExecute is called after each read
   * with what `execute` returned. End of stream and read errors still reach the socket.
   */
  consume(handle: object): void;
  unconsume(): void;
  /** Inside kOnExecute: a copy of the bytes just read. */
  getCurrentBuffer(): Buffer;
  [slot: number]: unknown;
}

export interface ParseError extends Error {
  code: string;
  reason: string;
  bytesParsed: number;
}

export interface NativeParserClass {
  new (): NativeParser;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kOnExecute: number;
  readonly kLenientNone: number;
}

/**
 * kOnHeadersComplete's arguments, in order. `headers` is undefined when they were handed
 * over earlier through kOnHeaders (more than 32 fields), and so is `url` (REQUEST mode:
 * the request target), which then came in pieces with them. `method` (REQUEST mode) is an
 * index into `methods`. Returns 0, or 1 when the message has no body whatever its headers
 * say (HEAD, 1xx, 204, 304). `upgrade` is llhttp's: Connection: upgrade with an Upgrade
 * field, or CONNECT; such a message makes `execute` stop after it (after its head when it
 * has no body) and return the bytes parsed; the next `execute` goes on.
 */
export type OnHeadersComplete = (
  versionMajor: number,
  versionMinor: number,
  headers: string[] | undefined,
  method: number | undefined,
  url: string | undefined,
  statusCode: number,
  statusMessage: string,
  upgrade: boolean,
  shouldKeepAlive: boolean,
) => number;

const require = createRequire(import.meta.url);

const common = require("_http_common") as { HTTPParser: NativeParserClass; methods: readonly string[] };

export const HTTPParser = common.HTTPParser;

/** Request methods by llhttp's index (kOnHeadersComplete's `method`). */
export const methods: readonly string[] = common.methods;

/** kOnHeaders' arguments: header fields [name, value, ...] and (REQUEST mode) the next piece of the request target. */
export type OnHeaders = (fields: string[], url: string) => void;

/** An error llhttp reported (not one a callback threw, which may carry a `code` of its own). */
export function isParseError(v: unknown): v is ParseError {
  const code = (v as Partial<ParseError> | null)?.code;
  return v instanceof Error && typeof code === "string" && code.startsWith("HPE_") && typeof (v as Partial<ParseError>).bytesParsed === "number";
}

/** A socket's native stream (TCPWrap, or TLSWrap on TLS), as net.Socket keeps it in `_handle`. */
export interface StreamHandle {
  readonly isStreamBase?: boolean;
  /** A parser reads it (node:http's flag, honoured both ways). */
  _consumed?: boolean;
  /** net.Socket's own record of whether the handle reads. */
  reading?: boolean;
  readStart(): number;
  readStop(): number;
}

/**
 * Makes `parser` the reader of the socket's native stream, as node:http does: each read
 * goes into `execute` in C++ (into a buffer the parser reuses) and `onExecute` gets what
 * it returned; the socket's JavaScript stream, its Buffers and 'data' events are skipped.
 * Returns the stream, or null when the socket has none free (feed the parser from 'data'
 * events then). Bytes the socket's stream already holds are not the parser's: read them
 * with `socket.read()` and execute them first.
 */
export function consumeSocket<P extends NativeParser>(parser: P, socket: object, onExecute: (this: P, ret: unknown) => void): StreamHandle | null {
  const handle = (socket as { _handle?: StreamHandle | null })._handle;
  if (handle == null || handle.isStreamBase !== true || handle._consumed === true) return null;
  handle._consumed = true;
  parser[HTTPParser.kOnExecute] = onExecute;
  parser.consume(handle);
  return handle;
}

/** Stops or restarts reading a consumed stream (the socket's pause()/resume() do not reach it). */
export function setReading(handle: StreamHandle, on: boolean): void {
  if (on) {
    if (handle.reading === true) return;
    handle.reading = true;
    handle.readStart();
  } else {
    if (handle.reading === false) return;
    handle.reading = false;
    handle.readStop();
  }
}

/** Gives the stream back to the socket (which reads it from then on, if `read`). */
export function releaseSocket(parser: NativeParser, handle: StreamHandle, read: boolean): void {
  parser.unconsume();
  handle._consumed = false;
  if (read) setReading(handle, true);
}

/** What a parser's owner (one downstream or upstream connection) answers for the callbacks both share. */
export interface ParserOwner {
  onBody(chunk: Buffer): void;
  onMessageComplete(): void;
  executed(ret: unknown): void;
  /** A handler threw under a parser callback. */
  callbackFailed(err: unknown): void;
}

// llhttp calls these with `this` = the parser, which points back to its owner. An exception
// is caught here, not left to cross llhttp: when the parser reads the native stream there
// is no JavaScript caller to catch it.
export function parserOnBody(this: { owner: ParserOwner }, chunk: Buffer): void {
  try {
    this.owner.onBody(chunk);
  } catch (err) {
    this.owner.callbackFailed(err);
  }
}

export function parserOnMessageComplete(this: { owner: ParserOwner }): void {
  try {
    this.owner.onMessageComplete();
  } catch (err) {
    this.owner.callbackFailed(err);
  }
}

export function parserOnExecute(this: { owner: ParserOwner }, ret: unknown): void {
  this.owner.executed(ret);
}
