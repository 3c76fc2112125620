// meshgate's HTTP/2 server connection (RFC 9113), on a plaintext or TLS socket.
//
// Why not node:http2: measured on this proxy's hot path, node:http2 costs more per
// request than nginx's whole proxy (a Duplex stream object per request, the header
// lists converted twice, a call from C++ into JavaScript per frame event, a timer per
// stream). Here a request is one object (the stream, which is also the proxy's exchange),
// frames are parsed from the socket's chunks in one loop, header blocks go through
// meshgate's HPACK codec, and everything a tick produces goes out in one socket write.
//
// What the session does:
// - reads the client preface and SETTINGS, sends its own SETTINGS (max concurrent
//   streams, initial stream window, max header list size) and a larger connection window;
// - frames: DATA (flow controlled both ways), HEADERS + CONTINUATION (one header block at
//   a time, bounded in size), PRIORITY (ignored), RST_STREAM, SETTINGS (+ACK), PING (ACK),
//   GOAWAY, WINDOW_UPDATE; PUSH_PROMISE from a client is a protocol error; unknown frame
//   types are ignored;
// - connection errors end with GOAWAY carrying the error code, stream errors with
//   RST_STREAM, as §5.4 says; nothing a client sends throws out of the session;
// - streams beyond max concurrent streams are refused (REFUSED_STREAM); a client that
//   resets streams as fast as it opens them (the "rapid reset" attack) or floods control
//   frames is sent GOAWAY ENHANCE_YOUR_CALM;
// - receive windows: the connection window is given back as data arrives (the stream
//   windows bound what is buffered), a stream's as its body is consumed;
// - send windows: response DATA waits for the peer's windows; a stream's write() says
//   false past a small buffer, and its drain callback runs when the data went out.
//
// Timing (request, idle and header-block timeouts) is driven from outside: `check(now)`
// is called on the owner's interval timer.

import type * as net from "node:net";
import { HpackDecoder } from "./hpack-decoder.js";
import { HpackEncoder } from "./hpack-encoder.js";
import { H2_ERROR, Http2ConnectionError } from "./errors.js";
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  F_ACK,
  F_END_HEADERS,
  F_END_STREAM,
  F_PADDED,
  F_PRIORITY,
  FRAME_HEADER_BYTES,
  MAX_MAX_FRAME_SIZE,
  MAX_WINDOW,
  S_ENABLE_PUSH,
  S_HEADER_TABLE_SIZE,
  S_INITIAL_WINDOW_SIZE,
  S_MAX_CONCURRENT_STREAMS,
  S_MAX_FRAME_SIZE,
  S_MAX_HEADER_LIST_SIZE,
  T_CONTINUATION,
  T_DATA,
  T_GOAWAY,
  T_HEADERS,
  T_PING,
  T_PRIORITY,
  T_PUSH_PROMISE,
  T_RST_STREAM,
  T_SETTINGS,
  T_WINDOW_UPDATE,
  writeFrameHeader,
} from "./frames.js";

export interface H2SessionLimits {
  maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: a request header list larger than this gets 431. */
  maxHeaderListSize: number;
  /** Regular request header fields beyond this get 431. */
  maxHeaderFields: number;
}

/** The stream side the session drives; implemented by the proxy's HTTP/2 exchange. */
export interface H2StreamCore {
  readonly id: number;
  /** Peer-granted bytes this stream may still send. */
  sendWindow: number;
  /** Bytes the peer may still send on this stream before we give window back. */
  recvWindow: number;
  /** DATA for this stream (padding removed; the session counted the frame against the windows). */
  onData(payload: Buffer, endStream: boolean): void;
  /** Trailers (a HEADERS block with END_STREAM on an open stream). */
  onTrailers(fields: string[]): void;
  /** The peer reset the stream, or the connection went away (`code` = the reason). */
  onReset(code: number): void;
  /** The stream can send more (window opened, socket drained). */
  onWritable(): void;
  /** Whether the stream has DATA queued for the peer. */
  readonly hasPendingData: boolean;
  /** Writes as much of its queued DATA as the windows allow. */
  flushPending(): void;
  /** The server's timer: request and idle timeouts. */
  checkTimeouts(now: number): void;
}

/** What the session hands complete request header blocks to. */
export interface H2SessionHost {
  /**
   * A new stream: the request's decoded header list (null: larger than maxHeaderListSize).
   * The host answers or resets it, or registers its stream (`session.streams.set`) before
   * handing it to the application.
   */
  openStream(session: H2ServerSession, id: number, fields: string[] | null, endStream: boolean): void;
  /** A header block stayed unfinished past the header timeout. */
  headerTimeout(session: H2ServerSession): void;
  /** The session ends with a connection error (GOAWAY with `code`) because of the peer. */
  connectionFailed(session: H2ServerSession, code: number, reason: string): void;
  /** The socket closed; every stream has been reset. */
  sessionClosed(session: H2ServerSession): void;
}

/** Our receive window per stream (SETTINGS_INITIAL_WINDOW_SIZE) and for the connection. */
export const STREAM_WINDOW = 256 * 1024;
const CONNECTION_WINDOW = 1024 * 1024;
/** The largest frame we accept (we never raise SETTINGS_MAX_FRAME_SIZE). */
const OUR_MAX_FRAME = DEFAULT_MAX_FRAME_SIZE;
/** A header block (HEADERS + CONTINUATION) beyond this is a flood: the HPACK state cannot be kept, GOAWAY. */
const MIN_HEADER_BLOCK_CAP = 64 * 1024;
/**
 * Outgoing frames are copied into scratch buffers of this size; payloads over COPY_MAX go
 * out as they are, behind their header. Below 4 KiB, Buffer.allocUnsafe takes the scratch
 * from Node's shared pool instead of a new ArrayBuffer (external memory the GC must track):
 * with 16 KiB scratches a worker spent ~20% more instructions per HTTP/2 request.
 */
const SCRATCH_BYTES = 4000;
const COPY_MAX = 2048;
/** Past this much unsent output the session stops reading: a peer that does not read cannot make us buffer its PING answers. */
const OUTPUT_HIGH_WATER = 1024 * 1024;
/** Rapid reset: more streams reset by the client than this within one check period (and more than twice the concurrency limit). */
const RESET_BUDGET_MIN = 200;

const EMPTY = Buffer.alloc(0);

export class H2ServerSession {
  readonly streams = new Map<number, H2StreamCore>();
  /** Highest client stream id seen (opened, refused or ignored). */
  lastStreamId = 0;
  /** Highest stream id handed to the host. */
  lastProcessedId = 0;

  private readonly decoder: HpackDecoder;
  readonly encoder = new HpackEncoder();

  private prefaceOffset = 0;
  private remainder: Buffer | null = null;

  // A header block in progress (HEADERS without END_HEADERS).
  private blockStream = 0;
  private blockFlags = 0;
  private blockParts: Buffer[] = [];
  private blockBytes = 0;
  private blockSince = 0;
  private readonly blockCap: number;

  // Peer settings.
  peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  peerInitialWindow = DEFAULT_WINDOW;
  /** Connection-level bytes we may still send. */
  private sendWindow = DEFAULT_WINDOW;
  /** Connection-level bytes received and not yet given back. */
  private recvCredit = 0;

  // Output.
  private scratch: Buffer = Buffer.allocUnsafe(SCRATCH_BYTES);
  private scratchStart = 0;
  private scratchEnd = 0;
  private out: Buffer[] = [];
  private flushScheduled = false;
  private reading = false;
  /** Streams with DATA waiting for a window, in the order they blocked. */
  private blocked: H2StreamCore[] = [];
  private socketBlocked = false;
  private readonly drainWaiters = new Set<H2StreamCore>();

  private resetsThisPeriod = 0;
  private readonly resetBudget: number;
  /** Set by the owner's clock; when the last frame arrived. */
  lastFrameAt = 0;

  goawaySent = false;
  private peerGoaway = false;
  closed = false;
  private closing = false;

  constructor(
    readonly socket: net.Socket,
    readonly limits: H2SessionLimits,
    private readonly host: H2SessionHost,
    now: number,
  ) {
    this.decoder = new HpackDecoder(4096, limits.maxHeaderListSize);
    this.blockCap = Math.max(MIN_HEADER_BLOCK_CAP, 2 * limits.maxHeaderListSize);
    this.resetBudget = Math.max(RESET_BUDGET_MIN, 2 * limits.maxConcurrentStreams);
    this.lastFrameAt = now;
    socket.on("data", (chunk: Buffer) => this.onSocketData(chunk));
    socket.on("drain", () => this.onSocketDrain());
    socket.on("error", () => {});
    socket.on("close", () => this.onSocketClose());
    // The listener paused the socket when it handed it over (with the sniffed bytes put back).
    socket.resume();
    this.sendSettings();
    this.flush();
  }

  // ---- reading ----------------------------------------------------------------------

  private onSocketData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastFrameAt = Date.now();
    this.reading = true;
    try {
      this.parse(chunk);
    } catch (err) {
      if (err instanceof Http2ConnectionError) this.connectionError(err.errorCode, err.message);
      else this.connectionError(H2_ERROR.INTERNAL_ERROR, (err as Error).message);
    }
    this.reading = false;
    if (!this.closed) this.flush();
  }

  private parse(chunk: Buffer): void {
    let b = chunk;
    if (this.remainder !== null) {
      b = Buffer.concat([this.remainder, chunk]);
      this.remainder = null;
    }
    let off = 0;
    if (this.prefaceOffset < CLIENT_PREFACE.length) {
      const n = Math.min(CLIENT_PREFACE.length - this.prefaceOffset, b.length);
      if (b.compare(CLIENT_PREFACE, this.prefaceOffset, this.prefaceOffset + n, 0, n) !== 0) {
        throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "invalid connection preface");
      }
      this.prefaceOffset += n;
      off = n;
    }
    const len = b.length;
    while (len - off >= FRAME_HEADER_BYTES) {
      const length = (b[off]! << 16) | (b[off + 1]! << 8) | b[off + 2]!;
      if (length > OUR_MAX_FRAME) throw new Http2ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, `frame of ${length} bytes`);
      const end = off + FRAME_HEADER_BYTES + length;
      if (end > len) break;
      const type = b[off + 3]!;
      const flags = b[off + 4]!;
      const id = b.readUInt32BE(off + 5) & 0x7fff_ffff;
      this.onFrame(type, flags, id, b, off + FRAME_HEADER_BYTES, end);
      if (this.closed) return;
      off = end;
    }
    if (off < len) this.remainder = off === 0 ? b : b.subarray(off);
  }

  private onFrame(type: number, flags: number, id: number, b: Buffer, start: number, end: number): void {
    if (this.blockStream !== 0 && type !== T_CONTINUATION) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "frame inside a header block");
    switch (type) {
      case T_DATA:
        return this.onDataFrame(flags, id, b, start, end);
      case T_HEADERS:
        return this.onHeadersFrame(flags, id, b, start, end);
      case T_CONTINUATION:
        return this.onContinuation(flags, id, b, start, end);
      case T_PRIORITY:
        if (id === 0) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "PRIORITY on stream 0");
        if (end - start !== 5) this.resetStream(id, H2_ERROR.FRAME_SIZE_ERROR);
        return;
      case T_RST_STREAM:
        return this.onRstStream(id, b, start, end);
      case T_SETTINGS:
        return this.onSettings(flags, id, b, start, end);
      case T_PING:
        if (id !== 0) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "PING on a stream");
        if (end - start !== 8) throw new Http2ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, "PING of the wrong size");
        if ((flags & F_ACK) === 0) this.writeFrame(T_PING, F_ACK, 0, b, start, end);
        return;
      case T_GOAWAY:
        if (id !== 0) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "GOAWAY on a stream");
        this.peerGoaway = true;
        if (this.streams.size === 0) this.closeWhenIdle();
        return;
      case T_WINDOW_UPDATE:
        return this.onWindowUpdate(id, b, start, end);
      case T_PUSH_PROMISE:
        throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      default:
        return; // unknown frame types are ignored (§4.1)
    }
  }

  private onDataFrame(flags: number, id: number, b: Buffer, start: number, end: number): void {
    if (id === 0) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "DATA on stream 0");
    const frameLength = end - start;
    // Flow control counts the whole payload, padding included (§6.9.1).
    this.recvCredit += frameLength;
    if (this.recvCredit > CONNECTION_WINDOW) throw new Http2ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, "connection window exceeded");
    if (this.recvCredit >= CONNECTION_WINDOW / 2) {
      this.windowUpdate(0, this.recvCredit);
      this.recvCredit = 0;
    }
    if ((flags & F_PADDED) !== 0) {
      if (frameLength < 1) throw new Http2ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, "padded DATA without a pad length");
      const pad = b[start]!;
      if (pad >= frameLength) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "DATA padding too long");
      start++;
      end -= pad;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (id > this.lastStreamId) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "DATA on an idle stream");
      return; // a stream closed or reset: its data is dropped (its window was counted above)
    }
    stream.recvWindow -= frameLength;
    if (stream.recvWindow < 0) {
      this.resetStream(id, H2_ERROR.FLOW_CONTROL_ERROR);
      return;
    }
    // Padding is never delivered, so its share of the stream window comes back now.
    const padding = frameLength - (end - start);
    if (padding > 0) this.streamWindowBack(stream, padding);
    stream.onData(end > start ? b.subarray(start, end) : EMPTY, (flags & F_END_STREAM) !== 0);
  }

  private onHeadersFrame(flags: number, id: number, b: Buffer, start: number, end: number): void {
    if (id === 0 || (id & 1) === 0) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, `HEADERS on stream ${id}`);
    if ((flags & F_PADDED) !== 0) {
      if (end - start < 1) throw new Http2ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, "padded HEADERS without a pad length");
      const pad = b[start]!;
      start++;
      if (pad > end - start) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "HEADERS padding too long");
      end -= pad;
    }
    if ((flags & F_PRIORITY) !== 0) {
      if (end - start < 5) throw new Http2ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, "HEADERS priority fields missing");
      start += 5;
    }
    if ((flags & F_END_HEADERS) !== 0) {
      this.onHeaderBlock(id, flags, b, start, end);
      return;
    }
    this.blockStream = id;
    this.blockFlags = flags;
    this.blockParts = [Buffer.from(b.subarray(start, end))];
    this.blockBytes = end - start;
    this.blockSince = this.lastFrameAt;
  }

  private onContinuation(flags: number, id: number, b: Buffer, start: number, end: number): void {
    if (this.blockStream === 0 || id !== this.blockStream) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "CONTINUATION without a header block");
    this.blockBytes += end - start;
    if (this.blockBytes > this.blockCap) throw new Http2ConnectionError(H2_ERROR.ENHANCE_YOUR_CALM, "header block too large");
    this.blockParts.push(Buffer.from(b.subarray(start, end)));
    if ((flags & F_END_HEADERS) === 0) return;
    const block = Buffer.concat(this.blockParts, this.blockBytes);
    const streamId = this.blockStream;
    const blockFlags = this.blockFlags;
    this.blockStream = 0;
    this.blockParts = [];
    this.blockBytes = 0;
    this.onHeaderBlock(streamId, blockFlags, block, 0, block.length);
  }

  private onHeaderBlock(id: number, flags: number, b: Buffer, start: number, end: number): void {
    // Decoded even when the stream is refused: the HPACK state is the connection's.
    const fields = this.decoder.decode(b, start, end);
    const endStream = (flags & F_END_STREAM) !== 0;
    const existing = this.streams.get(id);
    if (existing !== undefined) {
      if (!endStream || fields === null) {
        this.resetStream(id, H2_ERROR.PROTOCOL_ERROR);
        return;
      }
      existing.onTrailers(fields);
      return;
    }
    if (id <= this.lastStreamId) return; // a closed stream: ignored (§5.1)
    this.lastStreamId = id;
    if (this.goawaySent) return; // after GOAWAY, new streams are ignored (§6.8)
    if (this.streams.size >= this.limits.maxConcurrentStreams) {
      this.writeRst(id, H2_ERROR.REFUSED_STREAM);
      return;
    }
    this.lastProcessedId = id;
    this.host.openStream(this, id, fields, endStream);
  }

  private onRstStream(id: number, b: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw new Http2ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, "RST_STREAM of the wrong size");
    if (id === 0) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    if (id > this.lastStreamId) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "RST_STREAM on an idle stream");
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    if (++this.resetsThisPeriod > this.resetBudget) throw new Http2ConnectionError(H2_ERROR.ENHANCE_YOUR_CALM, "too many streams reset");
    this.forget(stream);
    stream.onReset(b.readUInt32BE(start));
  }

  private onSettings(flags: number, id: number, b: Buffer, start: number, end: number): void {
    if (id !== 0) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "SETTINGS on a stream");
    if ((flags & F_ACK) !== 0) {
      if (end !== start) throw new Http2ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
      return;
    }
    if ((end - start) % 6 !== 0) throw new Http2ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, "SETTINGS of the wrong size");
    // Streams waiting for window send only once the whole frame is applied (a larger
    // MAX_FRAME_SIZE later in the same frame counts for them too).
    let opened = false;
    for (let p = start; p < end; p += 6) {
      const key = b.readUInt16BE(p);
      const value = b.readUInt32BE(p + 2);
      switch (key) {
        case S_HEADER_TABLE_SIZE:
          this.encoder.setPeerTableSize(value);
          break;
        case S_ENABLE_PUSH:
          if (value > 1) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH not 0 or 1");
          break;
        case S_INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) throw new Http2ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE too large");
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const s of this.streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW) throw new Http2ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, "stream window too large");
          }
          if (delta > 0) opened = true;
          break;
        }
        case S_MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE out of range");
          this.peerMaxFrameSize = value;
          break;
        default:
          break; // MAX_CONCURRENT_STREAMS and MAX_HEADER_LIST_SIZE bind a server only for pushes and advice; unknown ones are ignored
      }
    }
    this.writeFrame(T_SETTINGS, F_ACK, 0, EMPTY, 0, 0);
    if (opened) this.unblock();
  }

  private onWindowUpdate(id: number, b: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw new Http2ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, "WINDOW_UPDATE of the wrong size");
    const inc = b.readUInt32BE(start) & 0x7fff_ffff;
    if (id === 0) {
      if (inc === 0) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
      this.sendWindow += inc;
      if (this.sendWindow > MAX_WINDOW) throw new Http2ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, "connection window too large");
      this.unblock();
      return;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (id > this.lastStreamId) throw new Http2ConnectionError(H2_ERROR.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
      return;
    }
    if (inc === 0) {
      this.resetStream(id, H2_ERROR.PROTOCOL_ERROR);
      return;
    }
    stream.sendWindow += inc;
    if (stream.sendWindow > MAX_WINDOW) {
      this.resetStream(id, H2_ERROR.FLOW_CONTROL_ERROR);
      return;
    }
    if (stream.hasPendingData) {
      stream.flushPending();
      if (!stream.hasPendingData) this.unblocked(stream);
    }
  }

  // ---- streams ----------------------------------------------------------------------

  /** A stream error on a stream we know (or not): RST_STREAM and forget it. */
  resetStream(id: number, code: number): void {
    const stream = this.streams.get(id);
    this.writeRst(id, code);
    if (stream !== undefined) {
      this.forget(stream);
      stream.onReset(code);
    }
  }

  /** The stream is done (both sides closed, or reset): it no longer counts nor gets frames. */
  forget(stream: H2StreamCore): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    this.drainWaiters.delete(stream);
    const i = this.blocked.indexOf(stream);
    if (i !== -1) this.blocked.splice(i, 1);
    if (this.streams.size === 0 && (this.goawaySent || this.peerGoaway)) this.closeWhenIdle();
  }

  /** Gives `n` bytes of a stream's receive window back (its body was consumed). */
  streamWindowBack(stream: H2StreamCore, n: number): void {
    stream.recvWindow += n;
    this.windowUpdate(stream.id, n);
  }

  /** Bytes the stream may send now (DATA payload), at most `want`. */
  sendable(stream: H2StreamCore, want: number): number {
    let n = want;
    if (n > stream.sendWindow) n = stream.sendWindow;
    if (n > this.sendWindow) n = this.sendWindow;
    return n > 0 ? n : 0;
  }

  /** Writes DATA frames for `payload[start, end)` (within the windows; the caller checked). */
  writeData(stream: H2StreamCore, payload: Uint8Array, start: number, end: number, endStream: boolean): void {
    const n = end - start;
    stream.sendWindow -= n;
    this.sendWindow -= n;
    const max = this.peerMaxFrameSize;
    while (end - start > max) {
      this.writeFrame(T_DATA, 0, stream.id, payload, start, start + max);
      start += max;
    }
    this.writeFrame(T_DATA, endStream ? F_END_STREAM : 0, stream.id, payload, start, end);
  }

  /** The stream has data waiting for a window. */
  block(stream: H2StreamCore): void {
    if (!this.blocked.includes(stream)) this.blocked.push(stream);
  }

  private unblocked(stream: H2StreamCore): void {
    const i = this.blocked.indexOf(stream);
    if (i !== -1) this.blocked.splice(i, 1);
    stream.onWritable();
  }

  /** Windows opened: blocked streams send what they can, oldest first. */
  private unblock(): void {
    if (this.blocked.length === 0) return;
    const list = this.blocked;
    this.blocked = [];
    for (const s of list) {
      if (this.sendWindow <= 0) {
        this.blocked.push(s);
        continue;
      }
      s.flushPending();
      if (s.hasPendingData) this.blocked.push(s);
      else s.onWritable();
    }
  }

  /** Whether writes should wait: the socket has a backlog. */
  get writeBlocked(): boolean {
    return this.socketBlocked;
  }

  /** `stream.onWritable()` once the socket drains. */
  waitForDrain(stream: H2StreamCore): void {
    this.drainWaiters.add(stream);
  }

  /** Encodes and writes a header block (response headers or trailers). */
  writeHeaders(id: number, status: number, fields: readonly string[], endStream: boolean): void {
    const block = this.encoder.encode(status, fields);
    const max = this.peerMaxFrameSize;
    const flags = endStream ? F_END_STREAM : 0;
    if (block.length <= max) {
      this.writeFrame(T_HEADERS, flags | F_END_HEADERS, id, block, 0, block.length);
      return;
    }
    this.writeFrame(T_HEADERS, flags, id, block, 0, max);
    let off = max;
    while (block.length - off > max) {
      this.writeFrame(T_CONTINUATION, 0, id, block, off, off + max);
      off += max;
    }
    this.writeFrame(T_CONTINUATION, F_END_HEADERS, id, block, off, block.length);
  }

  /**
   * A complete answer on a stream that has no exchange (431, 501): headers, and the body
   * when the windows take it at once (else none), then RST_STREAM(NO_ERROR) if the
   * request is still open.
   */
  reply(id: number, status: number, body: string, requestEnded: boolean): void {
    const payload = Buffer.from(body, "latin1");
    const fits = payload.length > 0 && payload.length <= this.sendWindow && payload.length <= this.peerInitialWindow && payload.length <= this.peerMaxFrameSize;
    this.writeHeaders(id, status, fits ? ["content-type", "text/plain", "content-length", String(payload.length)] : [], !fits);
    if (fits) {
      this.sendWindow -= payload.length;
      this.writeFrame(T_DATA, F_END_STREAM, id, payload, 0, payload.length);
    }
    if (!requestEnded) this.writeRst(id, H2_ERROR.NO_ERROR);
  }

  writeRst(id: number, code: number): void {
    const buf = this.reserve(FRAME_HEADER_BYTES + 4);
    const off = this.scratchEnd;
    writeFrameHeader(buf, off, 4, T_RST_STREAM, 0, id);
    buf.writeUInt32BE(code, off + FRAME_HEADER_BYTES);
    this.scratchEnd += FRAME_HEADER_BYTES + 4;
    this.scheduleFlush();
  }

  private windowUpdate(id: number, n: number): void {
    const buf = this.reserve(FRAME_HEADER_BYTES + 4);
    const off = this.scratchEnd;
    writeFrameHeader(buf, off, 4, T_WINDOW_UPDATE, 0, id);
    buf.writeUInt32BE(n, off + FRAME_HEADER_BYTES);
    this.scratchEnd += FRAME_HEADER_BYTES + 4;
    this.scheduleFlush();
  }

  private sendSettings(): void {
    const settings: [number, number][] = [
      [S_MAX_CONCURRENT_STREAMS, this.limits.maxConcurrentStreams],
      [S_INITIAL_WINDOW_SIZE, STREAM_WINDOW],
      [S_MAX_HEADER_LIST_SIZE, this.limits.maxHeaderListSize],
      [S_ENABLE_PUSH, 0],
    ];
    const payload = Buffer.alloc(settings.length * 6);
    settings.forEach(([k, v], i) => {
      payload.writeUInt16BE(k, i * 6);
      payload.writeUInt32BE(v, i * 6 + 2);
    });
    this.writeFrame(T_SETTINGS, 0, 0, payload, 0, payload.length);
    this.windowUpdate(0, CONNECTION_WINDOW - DEFAULT_WINDOW);
  }

  // ---- output -----------------------------------------------------------------------

  /** Room for `n` more bytes at scratchEnd (a fresh scratch buffer when full). */
  private reserve(n: number): Buffer {
    if (this.scratch.length - this.scratchEnd < n) {
      this.seal();
      this.scratch = Buffer.allocUnsafe(Math.max(SCRATCH_BYTES, n));
      this.scratchStart = 0;
      this.scratchEnd = 0;
    }
    return this.scratch;
  }

  /** The bytes collected in scratch become the next piece of output. */
  private seal(): void {
    if (this.scratchEnd > this.scratchStart) {
      this.out.push(this.scratch.subarray(this.scratchStart, this.scratchEnd));
      this.scratchStart = this.scratchEnd;
    }
  }

  private writeFrame(type: number, flags: number, id: number, payload: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (n <= COPY_MAX) {
      const buf = this.reserve(FRAME_HEADER_BYTES + n);
      const off = this.scratchEnd;
      writeFrameHeader(buf, off, n, type, flags, id);
      if (n > 0) buf.set(n === payload.length ? payload : payload.subarray(start, end), off + FRAME_HEADER_BYTES);
      this.scratchEnd = off + FRAME_HEADER_BYTES + n;
    } else {
      const buf = this.reserve(FRAME_HEADER_BYTES);
      writeFrameHeader(buf, this.scratchEnd, n, type, flags, id);
      this.scratchEnd += FRAME_HEADER_BYTES;
      this.seal();
      this.out.push(Buffer.from(payload.buffer, payload.byteOffset + start, n));
    }
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.reading || this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(flushSession, this);
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    this.seal();
    const out = this.out;
    if (out.length === 0) return;
    this.out = [];
    // The scratch buffer's written part now belongs to the socket; new frames go after it.
    const socket = this.socket;
    let ok: boolean;
    if (out.length === 1) ok = socket.write(out[0]!);
    else {
      socket.cork();
      for (let i = 0; i < out.length - 1; i++) socket.write(out[i]!);
      ok = socket.write(out[out.length - 1]!);
      socket.uncork();
    }
    if (!ok) {
      this.socketBlocked = true;
      if (socket.writableLength > OUTPUT_HIGH_WATER) socket.pause();
    }
    if (this.closing && this.streams.size === 0) this.endSocket();
  }

  private onSocketDrain(): void {
    this.socketBlocked = false;
    if (this.socket.isPaused()) this.socket.resume();
    if (this.drainWaiters.size === 0) return;
    const waiters = [...this.drainWaiters];
    this.drainWaiters.clear();
    for (const s of waiters) s.onWritable();
  }

  // ---- ending -----------------------------------------------------------------------

  /** Graceful close: GOAWAY(NO_ERROR); open streams finish, new ones are ignored. */
  close(): void {
    if (this.closed || this.goawaySent) return;
    this.goaway(H2_ERROR.NO_ERROR);
    if (this.streams.size === 0) this.closeWhenIdle();
    else this.flush();
  }

  private goaway(code: number): void {
    this.goawaySent = true;
    const buf = this.reserve(FRAME_HEADER_BYTES + 8);
    const off = this.scratchEnd;
    writeFrameHeader(buf, off, 8, T_GOAWAY, 0, 0);
    buf.writeUInt32BE(this.lastProcessedId, off + FRAME_HEADER_BYTES);
    buf.writeUInt32BE(code, off + FRAME_HEADER_BYTES + 4);
    this.scratchEnd += FRAME_HEADER_BYTES + 8;
  }

  private closeWhenIdle(): void {
    this.closing = true;
    if (!this.goawaySent) this.goaway(H2_ERROR.NO_ERROR);
    if (!this.reading) this.flush();
  }

  private endSocket(): void {
    if (this.closed) return;
    this.socket.end();
  }

  /** A connection error: GOAWAY with its code, every stream reset, the socket closed. */
  connectionError(code: number, reason: string): void {
    if (this.closed) return;
    if (code !== H2_ERROR.NO_ERROR) this.host.connectionFailed(this, code, reason);
    if (!this.goawaySent || code !== H2_ERROR.NO_ERROR) {
      this.goawaySent = false;
      this.goaway(code);
    }
    this.seal();
    const out = this.out;
    this.out = [];
    for (const piece of out) this.socket.write(piece);
    this.socket.end();
    // Unanswered peers do not hold the socket: destroyed if the end does not get through.
    setTimeout(destroyIfOpen, 1000, this.socket).unref();
    this.resetAll(code === H2_ERROR.NO_ERROR ? H2_ERROR.CANCEL : code);
    this.closed = true;
  }

  /** Destroys the connection now (no GOAWAY). */
  destroy(): void {
    if (this.closed) return;
    this.socket.destroy();
  }

  private resetAll(code: number): void {
    if (this.streams.size === 0) return;
    const all = [...this.streams.values()];
    this.streams.clear();
    this.blocked = [];
    this.drainWaiters.clear();
    for (const s of all) s.onReset(code);
  }

  private onSocketClose(): void {
    this.resetAll(H2_ERROR.CANCEL);
    this.closed = true;
    this.host.sessionClosed(this);
  }

  /**
   * Called on the owner's timer: the header-block timeout, the connection idle timeout,
   * and the rapid-reset budget's period.
   */
  check(now: number, headersTimeoutMs: number, idleTimeoutMs: number): void {
    if (this.closed) return;
    this.resetsThisPeriod = 0;
    if (this.blockStream !== 0 && headersTimeoutMs > 0 && now - this.blockSince >= headersTimeoutMs) {
      this.host.headerTimeout(this);
      this.connectionError(H2_ERROR.NO_ERROR, "header block timeout");
      return;
    }
    if (idleTimeoutMs > 0 && this.streams.size === 0 && now - this.lastFrameAt >= idleTimeoutMs) this.close();
  }
}

function flushSession(s: H2ServerSession): void {
  s.flush();
}

function destroyIfOpen(socket: net.Socket): void {
  if (!socket.destroyed) socket.destroy();
}
