// The HPACK static table (RFC 7541 Appendix A): 61 fixed entries both peers know, so common
// fields cost one byte. Index 1 is the first entry; the dynamic table's entries follow at 62.

/** Entry i (1-based) is STATIC_NAMES[i - 1] / STATIC_VALUES[i - 1]. */
const ENTRIES =
  ":authority|:method GET|:method POST|:path /|:path /index.html|:scheme http|:scheme https|" +
  ":status 200|:status 204|:status 206|:status 304|:status 400|:status 404|:status 500|" +
  "accept-charset|accept-encoding gzip, deflate|accept-language|accept-ranges|accept|" +
  "access-control-allow-origin|age|allow|authorization|cache-control|content-disposition|" +
  "content-encoding|content-language|content-length|content-location|content-range|content-type|" +
  "cookie|date|etag|expect|expires|from|host|if-match|if-modified-since|if-none-match|if-range|" +
  "if-unmodified-since|last-modified|link|location|max-forwards|proxy-authenticate|" +
  "proxy-authorization|range|referer|refresh|retry-after|server|set-cookie|" +
  "strict-transport-security|transfer-encoding|user-agent|vary|via|www-authenticate";

export const STATIC_TABLE_LENGTH = 61;

export const STATIC_NAMES: readonly string[] = ENTRIES.split("|").map((e) => {
  const sp = e.indexOf(" ");
  return sp < 0 ? e : e.slice(0, sp);
});

export const STATIC_VALUES: readonly string[] = ENTRIES.split("|").map((e) => {
  const sp = e.indexOf(" ");
  return sp < 0 ? "" : e.slice(sp + 1);
});

/** name -> the lowest static index with that name (the one an encoder refers to). */
export const STATIC_NAME_INDEX: ReadonlyMap<string, number> = (() => {
  const m = new Map<string, number>();
  STATIC_NAMES.forEach((n, i) => {
    if (!m.has(n)) m.set(n, i + 1);
  });
  return m;
})();

/** name -> (value -> static index) for the entries that carry a value. */
export const STATIC_PAIR_INDEX: ReadonlyMap<string, ReadonlyMap<string, number>> = (() => {
  const m = new Map<string, Map<string, number>>();
  STATIC_NAMES.forEach((n, i) => {
    const v = STATIC_VALUES[i]!;
    if (v === "") return;
    let byValue = m.get(n);
    if (byValue === undefined) m.set(n, (byValue = new Map()));
    byValue.set(v, i + 1);
  });
  return m;
})();
