// request_headers_timeout for HTTP/2 header blocks left unfinished. node:http2 hands a
// stream over only once its header block is complete, so a client that sends HEADERS
// without END_HEADERS (or half a frame) and then CONTINUATION frames slowly, or never,
// would hold the connection forever: nothing else can be read on it meanwhile (HPACK
// state is per connection), and every frame resets the connection's idle timer.
//
// nghttp2 records the id of a stream whose HEADERS it started to read
// (`state.lastProcStreamID`) before the block is complete. A stream id that stays ahead
// of the last stream delivered for the headers timeout is either a block left unfinished
// or a stream nghttp2 refused itself (malformed headers: reset, never delivered). A PING
// tells them apart: a client in the middle of a header block cannot answer it (any other
// frame there is a connection error), a client that is not answers at once. No answer
// within the headers timeout: the connection is closed and counted.
//
// One interval timer per HTTP/2 connection, at half the headers timeout.

import type { ServerHttp2Session } from "node:http2";
import type { Connection } from "./connection.js";
import type { ListenerStats } from "./listener-stats.js";

export function watchHeaderBlocks(session: ServerHttp2Session, conn: Connection, timeoutMs: number, stats: ListenerStats): void {
  let pendingId = 0;
  let since = 0;
  /** Stream ids up to this one are known not to be unfinished blocks (answered PINGs). */
  let settledId = 0;
  let probe: NodeJS.Timeout | undefined;
  const stop = (): void => {
    clearInterval(timer);
    if (probe) clearTimeout(probe);
  };
  const check = (): void => {
    if (session.destroyed || session.closed) return stop();
    const last = session.state.lastProcStreamID ?? 0;
    if (last <= conn.lastStreamId || last <= settledId) {
      pendingId = 0;
      return;
    }
    if (last !== pendingId) {
      pendingId = last;
      since = Date.now();
      return;
    }
    if (probe !== undefined || Date.now() - since < timeoutMs) return;
    const probed = pendingId;
    const sent = session.ping((err) => {
      if (probe) clearTimeout(probe);
      probe = undefined;
      if (err === null) settledId = Math.max(settledId, probed);
    });
    if (!sent) return;
    probe = setTimeout(() => {
      probe = undefined;
      if (session.destroyed) return;
      stats.downstreamRqHeaderTimeout++;
      session.destroy();
    }, timeoutMs);
    probe.unref();
  };
  const timer = setInterval(check, Math.max(50, Math.floor(timeoutMs / 2)));
  timer.unref();
  session.once("close", stop);
}
