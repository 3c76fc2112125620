// A raw HTTP/2 client for tests: it writes whatever frames a test asks for (including
// those a real client would never send) and records every frame the server sends.
// Header blocks are HPACK literals without indexing or Huffman, so the server's
// decoder state stays trivial to reason about.

import * as net from "node:net";

export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** A header block of literal fields without indexing (new names, raw strings). */
export function literalBlock(fields: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [n, v] of fields) {
    const name = Buffer.from(n, "latin1");
    const value = Buffer.from(v, "latin1");
    parts.push(Buffer.from([0x00, ...hpackInt(name.length, 7, 0)]), name, Buffer.from(hpackInt(value.length, 7, 0)), value);
  }
  return Buffer.concat(parts);
}

export class RawH2 {
  readonly socket: net.Socket;
  readonly frames: Frame[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  /** `settings`: [id, value] pairs of the client's first SETTINGS frame. */
  constructor(port: number, private readonly answerPings: boolean, settings: [number, number][] = []) {
    this.socket = net.connect(port, "127.0.0.1");
    this.socket.on("error", () => {});
    this.socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    this.socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 9) {
        const len = this.buf.readUIntBE(0, 3);
        if (this.buf.length < 9 + len) break;
        const f: Frame = { type: this.buf[3]!, flags: this.buf[4]!, stream: this.buf.readUInt32BE(5) & 0x7fffffff, payload: this.buf.subarray(9, 9 + len) };
        this.buf = this.buf.subarray(9 + len);
        this.frames.push(f);
        if (f.type === FRAME.SETTINGS && (f.flags & 1) === 0) this.send(FRAME.SETTINGS, 1, 0, Buffer.alloc(0));
        if (f.type === FRAME.PING && (f.flags & 1) === 0 && this.answerPings) this.send(FRAME.PING, 1, 0, f.payload);
      }
      this.wake();
    });
    this.socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    const payload = Buffer.alloc(settings.length * 6);
    settings.forEach(([k, v], i) => {
      payload.writeUInt16BE(k, i * 6);
      payload.writeUInt32BE(v, i * 6 + 2);
    });
    this.send(FRAME.SETTINGS, 0, 0, payload);
  }

  send(type: number, flags: number, stream: number, payload: Buffer): void {
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3);
    h[3] = type;
    h[4] = flags;
    h.writeUInt32BE(stream, 5);
    if (!this.socket.destroyed) this.socket.write(Buffer.concat([h, payload]));
  }

  /** HEADERS (literal fields, no Huffman); END_HEADERS unless `unfinished`. */
  headers(stream: number, fields: [string, string][], opts: { endStream?: boolean; unfinished?: boolean } = {}): void {
    const block = literalBlock(fields);
    const flags = (opts.endStream ? 0x1 : 0) | (opts.unfinished ? 0 : 0x4);
    this.send(FRAME.HEADERS, flags, stream, opts.unfinished ? block.subarray(0, Math.floor(block.length / 2)) : block);
  }

  data(stream: number, payload: Buffer | string, endStream = false): void {
    this.send(FRAME.DATA, endStream ? 1 : 0, stream, Buffer.from(payload));
  }

  windowUpdate(stream: number, increment: number): void {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(increment);
    this.send(FRAME.WINDOW_UPDATE, 0, stream, p);
  }

  rst(stream: number, code: number): void {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(code);
    this.send(FRAME.RST_STREAM, 0, stream, p);
  }

  async until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > end) return false;
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return true;
  }

  rstCode(stream: number): number | undefined {
    const f = this.frames.find((x) => x.type === FRAME.RST_STREAM && x.stream === stream);
    return f?.payload.readUInt32BE(0);
  }

  /** The GOAWAY's [last stream id, error code], if one came. */
  goaway(): [number, number] | undefined {
    const f = this.frames.find((x) => x.type === FRAME.GOAWAY);
    return f ? [f.payload.readUInt32BE(0) & 0x7fffffff, f.payload.readUInt32BE(4)] : undefined;
  }

  answered(stream: number): boolean {
    return this.frames.some((x) => x.type === FRAME.HEADERS && x.stream === stream);
  }

  /** DATA received on a stream, and whether END_STREAM came. */
  body(stream: number): { data: Buffer; ended: boolean } {
    const fs = this.frames.filter((x) => (x.type === FRAME.DATA || x.type === FRAME.HEADERS) && x.stream === stream);
    return { data: Buffer.concat(fs.filter((f) => f.type === FRAME.DATA).map((f) => f.payload)), ended: fs.some((f) => (f.flags & 1) !== 0) };
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
