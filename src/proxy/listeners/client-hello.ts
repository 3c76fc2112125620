// Reads the SNI out of a TLS ClientHello before any handshake starts (what Envoy's
// tls_inspector does), so the filter chain — and with it the certificate, ALPN list and
// client-certificate policy — is chosen before the TLS socket is created. Node's
// SNICallback could only swap the certificate, not the rest.

/** Enough bytes to hold any real ClientHello; more means a broken or hostile client. */
export const MAX_CLIENT_HELLO_BYTES = 64 * 1024;

export type ClientHelloResult =
  | { readonly kind: "incomplete" }
  | { readonly kind: "invalid" }
  | { readonly kind: "hello"; /** Lowercase, without a trailing dot; undefined without SNI. */ readonly serverName: string | undefined };

const INCOMPLETE: ClientHelloResult = { kind: "incomplete" };
const INVALID: ClientHelloResult = { kind: "invalid" };

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;

/** True when the first bytes look like a TLS handshake record (decided on 2 bytes). */
export function looksLikeTls(first: Buffer): boolean {
  return first[0] === RECORD_HANDSHAKE && (first.length < 2 || first[1] === 0x03);
}

/**
 * Parses the ClientHello from the start of a connection's bytes. The handshake message
 * may span several records; their payloads are joined until it is complete.
 */
export function parseClientHello(data: Buffer): ClientHelloResult {
  // Join handshake record payloads.
  const fragments: Buffer[] = [];
  let have = 0;
  let need = -1; // handshake message length incl. its 4-byte header, once known
  let off = 0;
  while (need < 0 || have < need) {
    if (data.length < off + 5) return INCOMPLETE;
    if (data[off] !== RECORD_HANDSHAKE || data[off + 1] !== 0x03) return INVALID;
    const len = data.readUInt16BE(off + 3);
    if (len === 0) return INVALID;
    if (data.length < off + 5 + len) return INCOMPLETE;
    fragments.push(data.subarray(off + 5, off + 5 + len));
    have += len;
    off += 5 + len;
    if (need < 0 && have >= 4) {
      const head = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return INVALID;
      need = 4 + head.readUIntBE(1, 3);
      if (need > MAX_CLIENT_HELLO_BYTES) return INVALID;
    }
  }
  const msg = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
  return readServerName(msg.subarray(4, need));
}

function readServerName(body: Buffer): ClientHelloResult {
  let p = 2 + 32; // client_version, random
  if (body.length < p + 1) return INVALID;
  p += 1 + body[p]!; // session_id
  if (body.length < p + 2) return INVALID;
  p += 2 + body.readUInt16BE(p); // cipher_suites
  if (body.length < p + 1) return INVALID;
  p += 1 + body[p]!; // compression_methods
  if (p === body.length) return { kind: "hello", serverName: undefined }; // no extensions
  if (body.length < p + 2) return INVALID;
  const end = p + 2 + body.readUInt16BE(p);
  if (end > body.length) return INVALID;
  p += 2;
  while (p + 4 <= end) {
    const type = body.readUInt16BE(p);
    const len = body.readUInt16BE(p + 2);
    p += 4;
    if (p + len > end) return INVALID;
    if (type === EXT_SERVER_NAME) return serverNameExtension(body.subarray(p, p + len));
    p += len;
  }
  return { kind: "hello", serverName: undefined };
}

function serverNameExtension(ext: Buffer): ClientHelloResult {
  if (ext.length < 2) return INVALID;
  const end = 2 + ext.readUInt16BE(0);
  if (end > ext.length) return INVALID;
  let p = 2;
  while (p + 3 <= end) {
    const type = ext[p]!;
    const len = ext.readUInt16BE(p + 1);
    p += 3;
    if (p + len > end) return INVALID;
    if (type === 0) {
      let name = ext.toString("latin1", p, p + len).toLowerCase();
      if (name.endsWith(".")) name = name.slice(0, -1);
      return { kind: "hello", serverName: name === "" ? undefined : name };
    }
    p += len;
  }
  return { kind: "hello", serverName: undefined };
}
