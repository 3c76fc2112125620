// A minimal HTTP/2 server speaking raw frames over node:net, for HPACK interop tests: it reads
// the client preface and frames, exchanges SETTINGS, joins HEADERS + CONTINUATION payloads
// into header blocks (padding and priority removed) and lets the test answer with its own
// header blocks. No flow control or stream state: tests send small bodies only.

import net from "node:net";

export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export interface RawConnection {
  /** Sends one HEADERS frame carrying a whole header block. */
  sendHeaders(streamId: number, block: Uint8Array, endStream: boolean): void;
  sendData(streamId: number, data: Uint8Array, endStream: boolean): void;
}

export interface RawHandlers {
  /** A client SETTINGS frame (not an ACK): id -> value. Called before the server ACKs it. */
  onSettings?(conn: RawConnection, settings: Map<number, number>): void;
  /** A complete header block of a request on streamId. */
  onHeaders(conn: RawConnection, streamId: number, block: Buffer, endStream: boolean): void;
  onError?(err: unknown): void;
}

function frame(type: number, flags: number, streamId: number, payload: Uint8Array): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

export async function startRawH2Server(handlers: RawHandlers): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    const conn: RawConnection = {
      sendHeaders: (id, block, endStream) => socket.write(frame(FRAME.HEADERS, FLAG_END_HEADERS | (endStream ? FLAG_END_STREAM : 0), id, Buffer.from(block))),
      sendData: (id, data, endStream) => socket.write(frame(FRAME.DATA, endStream ? FLAG_END_STREAM : 0, id, data)),
    };
    socket.write(frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(0)));
    let pending = Buffer.alloc(0);
    let prefaceSeen = false;
    let block: Buffer[] | undefined;
    let blockStream = 0;
    let blockEndStream = false;
    socket.on("data", (chunk: Buffer) => {
      try {
        pending = Buffer.concat([pending, chunk]);
        if (!prefaceSeen) {
          if (pending.length < PREFACE.length) return;
          if (!pending.subarray(0, PREFACE.length).equals(PREFACE)) throw new Error("bad client preface");
          pending = pending.subarray(PREFACE.length);
          prefaceSeen = true;
        }
        while (pending.length >= 9) {
          const len = pending.readUIntBE(0, 3);
          if (pending.length < 9 + len) break;
          const type = pending[3]!;
          const flags = pending[4]!;
          const streamId = pending.readUInt32BE(5) & 0x7fffffff;
          let payload = pending.subarray(9, 9 + len);
          pending = pending.subarray(9 + len);
          if (type === FRAME.SETTINGS && (flags & FLAG_ACK) === 0) {
            const settings = new Map<number, number>();
            for (let i = 0; i + 6 <= payload.length; i += 6) settings.set(payload.readUInt16BE(i), payload.readUInt32BE(i + 2));
            handlers.onSettings?.(conn, settings);
            socket.write(frame(FRAME.SETTINGS, FLAG_ACK, 0, Buffer.alloc(0)));
          } else if (type === FRAME.PING && (flags & FLAG_ACK) === 0) {
            socket.write(frame(FRAME.PING, FLAG_ACK, 0, payload));
          } else if (type === FRAME.GOAWAY) {
            // The client gave up on the connection (a COMPRESSION_ERROR is code 9): report it and close,
            // so the client's pending streams fail instead of waiting.
            const code = payload.length >= 8 ? payload.readUInt32BE(4) : -1;
            if (code !== 0) throw new Error(`client sent GOAWAY with error code ${code}: ${payload.subarray(8).toString("latin1")}`);
          } else if (type === FRAME.HEADERS) {
            if ((flags & FLAG_PADDED) !== 0) payload = payload.subarray(1, payload.length - payload[0]!);
            if ((flags & FLAG_PRIORITY) !== 0) payload = payload.subarray(5);
            block = [payload];
            blockStream = streamId;
            blockEndStream = (flags & FLAG_END_STREAM) !== 0;
          } else if (type === FRAME.CONTINUATION) {
            if (block === undefined || streamId !== blockStream) throw new Error("unexpected CONTINUATION");
            block.push(payload);
          }
          if ((type === FRAME.HEADERS || type === FRAME.CONTINUATION) && (flags & FLAG_END_HEADERS) !== 0) {
            const joined = Buffer.concat(block!);
            block = undefined;
            handlers.onHeaders(conn, blockStream, joined, blockEndStream);
          }
        }
      } catch (err) {
        handlers.onError?.(err);
        socket.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
