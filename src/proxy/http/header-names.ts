// Lowercase header names for the names the parser hands over as they were on the wire.
// The common ones come back as constants: a header map keyed by a fresh lower-cased
// string makes V8 hash it and look it up in its string table on every store and load (a
// measurable share of a request), while a constant is already the interned key. The same
// idea as node:http's table of known fields; anything else is lower-cased.

/**
 * The lowercase form of a header name, as a constant for the common names in their usual
 * spellings (canonical case and lowercase). Compared by length first, then content: no
 * hashing of the name itself.
 */
export function lowerHeaderName(name: string): string {
  switch (name.length) {
    case 2:
      if (name === "te" || name === "TE" || name === "Te") return "te";
      break;
    case 3:
      if (name === "Age" || name === "age") return "age";
      break;
    case 4:
      if (name === "Host" || name === "host") return "host";
      if (name === "Date" || name === "date") return "date";
      if (name === "ETag" || name === "etag" || name === "Etag") return "etag";
      if (name === "Vary" || name === "vary") return "vary";
      break;
    case 6:
      if (name === "Server" || name === "server") return "server";
      if (name === "Accept" || name === "accept") return "accept";
      if (name === "Cookie" || name === "cookie") return "cookie";
      if (name === "Expect" || name === "expect") return "expect";
      if (name === "Origin" || name === "origin") return "origin";
      break;
    case 7:
      if (name === "Expires" || name === "expires") return "expires";
      if (name === "Referer" || name === "referer") return "referer";
      if (name === "Trailer" || name === "trailer") return "trailer";
      if (name === "Upgrade" || name === "upgrade") return "upgrade";
      break;
    case 8:
      if (name === "Location" || name === "location") return "location";
      break;
    case 10:
      if (name === "Connection" || name === "connection") return "connection";
      if (name === "User-Agent" || name === "user-agent") return "user-agent";
      if (name === "Keep-Alive" || name === "keep-alive") return "keep-alive";
      if (name === "Set-Cookie" || name === "set-cookie") return "set-cookie";
      break;
    case 12:
      if (name === "Content-Type" || name === "content-type") return "content-type";
      if (name === "X-Request-Id" || name === "x-request-id" || name === "X-Request-ID") return "x-request-id";
      break;
    case 13:
      if (name === "Authorization" || name === "authorization") return "authorization";
      if (name === "Cache-Control" || name === "cache-control") return "cache-control";
      if (name === "Last-Modified" || name === "last-modified") return "last-modified";
      break;
    case 14:
      if (name === "Content-Length" || name === "content-length") return "content-length";
      break;
    case 15:
      if (name === "Accept-Encoding" || name === "accept-encoding") return "accept-encoding";
      if (name === "Accept-Language" || name === "accept-language") return "accept-language";
      if (name === "X-Forwarded-For" || name === "x-forwarded-for") return "x-forwarded-for";
      break;
    case 16:
      if (name === "Content-Encoding" || name === "content-encoding") return "content-encoding";
      break;
    case 17:
      if (name === "Transfer-Encoding" || name === "transfer-encoding") return "transfer-encoding";
      if (name === "X-Forwarded-Proto" || name === "x-forwarded-proto") return "x-forwarded-proto";
      break;
  }
  return name.toLowerCase();
}
