// After a protocol switch (WebSocket), the client's and the upstream's connections carry
// bytes the proxy does not interpret: each side's bytes are piped to the other, with
// backpressure, until either side closes or fails, which closes both.

import type { Duplex } from "node:stream";

export function tunnel(client: Duplex, upstream: Duplex): void {
  let done = false;
  const close = (): void => {
    if (done) return;
    done = true;
    client.destroy();
    upstream.destroy();
  };
  client.on("error", close);
  upstream.on("error", close);
  client.once("close", close);
  upstream.once("close", close);
  // A side that ends its writing ends the other's (a half-close is passed on); the socket
  // then closes once both directions are done.
  client.pipe(upstream);
  upstream.pipe(client);
}
