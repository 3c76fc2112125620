// The request body both HTTP servers hand to the connection manager: the protocol pushes
// what arrives, and the consumer's reads tell the exchange to let more in (resume the
// socket for HTTP/1.1, give stream window back for HTTP/2).

import { Readable } from "node:stream";

export interface BodySource {
  /** The consumer wants more. */
  bodyWanted(): void;
}

export class RequestBody extends Readable {
  constructor(private readonly source: BodySource) {
    super();
    // As node:http's IncomingMessage, an abort (client gone, stream reset) is an error only
    // for those listening for one; a consumer may stop listening between the abort and the
    // event (the upstream call cancelled by the same abort), so the event must never go
    // unheard. The exchange reports the abort through its onClose as well.
    this.on("error", ignore);
  }
  override _read(): void {
    this.source.bodyWanted();
  }
}

function ignore(): void {}

/** The body of a request that has none. */
export function endedBody(): Readable {
  const r = new Readable({ read() {} });
  r.push(null);
  return r;
}
