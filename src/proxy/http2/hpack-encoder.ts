// HPACK encoder (RFC 7541) for the header blocks meshgate sends (responses and trailers).
//
// Indexing policy, chosen for a proxy that answers many similar responses on one connection:
// - a (name, value) pair in the static table is sent as its one-octet index (`:status: 200`);
// - sensitive fields (authorization, proxy-authorization, cookie, set-cookie) are "never
//   indexed" (§6.2.3), so no intermediary puts them in a table either (§7.1.3);
// - fields whose value changes on every response (date, content-length, x-request-id, etag,
//   ...) are literals without indexing, so they do not push useful entries out of the table;
// - any other field with a value of at most 64 octets is added to the dynamic table the first
//   time and sent as a one-octet index afterwards (`content-type: text/plain`, `server`).
//   A name whose values keep changing (8 insertions in a row without a single reuse) stops
//   being indexed until one of its remaining entries is reused.
// Names are sent as a static or dynamic index whenever the table has them.
//
// Literal strings are sent as raw octets, not Huffman-coded, by default: Huffman saves about
// a fifth of the octets of a literal, but on a warm connection nearly every field is a
// one-octet index and the literals left are the per-response values (date, content-length),
// so it would save a dozen octets per response at a CPU cost of several ns per octet on the
// proxy's hot path, where CPU is the scarcer resource. `{ huffman: true }` codes a literal
// when that is shorter (for links where octets matter more).
//
// The dynamic table mirrors the peer's decoder: entries, sizes and evictions follow §4.4
// exactly, with a map per name from value to the entry's insertion number to find them.

import { STATIC_NAME_INDEX, STATIC_PAIR_INDEX, STATIC_TABLE_LENGTH } from "./hpack-static-table.js";
import { huffmanEncode, huffmanEncodedLength } from "./huffman.js";

type Latin1Buffer = Buffer & { latin1Write(s: string, offset: number, length: number): number };

const ENTRY_OVERHEAD = 32;
/** The most dynamic table meshgate keeps per connection, whatever the peer allows. */
const OWN_TABLE_LIMIT = 4096;
const MAX_INDEXED_VALUE = 64;
const MAX_MISSES = 8;
/** Names remembered per connection; others are encoded without the dynamic table. */
const MAX_NAMES = 512;

const INDEX = 0;
const NO_INDEX = 1;
const NEVER_INDEX = 2;

const NEVER_INDEXED = new Set(["authorization", "proxy-authorization", "cookie", "set-cookie"]);
const NOT_INDEXED = new Set([
  "date",
  "content-length",
  "x-request-id",
  "age",
  "etag",
  "last-modified",
  "expires",
  "content-range",
  "traceparent",
  "tracestate",
]);

/** `:status` values with a static entry -> its index. */
const STATUS_STATIC = new Map<number, number>([
  [200, 8],
  [204, 9],
  [206, 10],
  [304, 11],
  [400, 12],
  [404, 13],
  [500, 14],
]);
const STATUS_STRINGS: string[] = Array.from({ length: 1000 }, (_, i) => String(i));

interface NameInfo {
  readonly name: string;
  readonly policy: number;
  /** Static index of the name, 0 when the static table does not have it. */
  readonly staticIndex: number;
  readonly staticPairs: ReadonlyMap<string, number> | undefined;
  /** value -> insertion number of its dynamic entry; undefined when not remembered. */
  readonly values: Map<string, number> | undefined;
  /** Insertion number of the newest dynamic entry with this name, -1 when none. */
  newest: number;
  /** Insertions in a row without a reuse. */
  misses: number;
}

function nameInfo(name: string, remember: boolean): NameInfo {
  const policy = NEVER_INDEXED.has(name) ? NEVER_INDEX : NOT_INDEXED.has(name) ? NO_INDEX : INDEX;
  return {
    name,
    policy,
    staticIndex: STATIC_NAME_INDEX.get(name) ?? 0,
    staticPairs: STATIC_PAIR_INDEX.get(name),
    values: remember && policy === INDEX ? new Map() : undefined,
    newest: -1,
    misses: 0,
  };
}

export interface HpackEncoderOptions {
  /** Huffman-code a literal when that makes it shorter (default false: raw octets). */
  readonly huffman?: boolean;
}

export class HpackEncoder {
  private readonly huffman: boolean;
  private buf: Latin1Buffer = Buffer.allocUnsafe(1024) as Latin1Buffer;
  private readonly infos = new Map<string, NameInfo>();
  /** The table's maximum size we use now, and the one the peer's decoder last heard of. */
  private capacity = OWN_TABLE_LIMIT;
  private signaled = OWN_TABLE_LIMIT;
  /** The smallest capacity since the last block (§4.2: it must be signaled too). */
  private lowest = OWN_TABLE_LIMIT;
  private size = 0;
  // The dynamic table: a ring of entries, newest at (inserted - 1) & mask.
  private entryInfos: (NameInfo | undefined)[] = new Array<NameInfo | undefined>(16).fill(undefined);
  private entryValues: string[] = new Array<string>(16).fill("");
  private mask = 15;
  private count = 0;
  private inserted = 0;

  constructor(options: HpackEncoderOptions = {}) {
    this.huffman = options.huffman === true;
  }

  /** The peer's SETTINGS_HEADER_TABLE_SIZE (default 4096). */
  setPeerTableSize(size: number): void {
    const capacity = Math.min(size, OWN_TABLE_LIMIT);
    this.capacity = capacity;
    if (capacity < this.lowest) this.lowest = capacity;
    this.evictTo(capacity);
  }

  /** The dynamic table's current size in octets (RFC 7541 §4.1), for tests and diagnostics. */
  get dynamicTableSize(): number {
    return this.size;
  }

  encode(status: number, headers: readonly string[]): Uint8Array {
    let bound = 32;
    for (let i = 0; i < headers.length; i++) bound += headers[i]!.length + 8;
    if (bound > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(bound, 2 * this.buf.length)) as Latin1Buffer;
    let p = 0;
    if (this.lowest !== this.signaled || this.capacity !== this.signaled) {
      // Dynamic Table Size Update(s) (§6.3): the smallest size since the last block when it
      // evicted more than the final one does, then the final one.
      if (this.lowest < this.capacity && this.lowest < this.signaled) p = this.writeInt(p, 0x20, 0x1f, this.lowest);
      p = this.writeInt(p, 0x20, 0x1f, this.capacity);
      this.signaled = this.capacity;
    }
    this.lowest = this.capacity;
    if (status > 0) {
      const index = STATUS_STATIC.get(status);
      if (index !== undefined) this.buf[p++] = 0x80 | index;
      else p = this.encodeField(p, ":status", status < 1000 ? STATUS_STRINGS[status]! : String(status));
    }
    for (let i = 0; i + 1 < headers.length; i += 2) p = this.encodeField(p, headers[i]!, headers[i + 1]!);
    return this.buf.subarray(0, p);
  }

  private encodeField(p: number, name: string, value: string): number {
    let info = this.infos.get(name);
    if (info === undefined) {
      const remember = this.infos.size < MAX_NAMES;
      info = nameInfo(name, remember);
      if (remember) this.infos.set(name, info);
    }
    if (info.policy === INDEX) {
      if (info.staticPairs !== undefined) {
        const index = info.staticPairs.get(value);
        if (index !== undefined) return this.writeInt(p, 0x80, 0x7f, index);
      }
      const values = info.values;
      if (values !== undefined) {
        const n = values.get(value);
        if (n !== undefined) {
          info.misses = 0;
          return this.writeInt(p, 0x80, 0x7f, STATIC_TABLE_LENGTH + this.inserted - n);
        }
        const entrySize = name.length + value.length + ENTRY_OVERHEAD;
        if (value.length <= MAX_INDEXED_VALUE && entrySize <= this.capacity && info.misses < MAX_MISSES) {
          // Literal with Incremental Indexing (§6.2.1); the name index is taken before the insertion.
          info.misses++;
          p = this.writeName(p, 0x40, 0x3f, info);
          p = this.writeString(p, value);
          this.insert(info, value, entrySize);
          return p;
        }
      }
      p = this.writeName(p, 0x00, 0x0f, info);
    } else if (info.policy === NO_INDEX) {
      p = this.writeName(p, 0x00, 0x0f, info); // §6.2.2
    } else {
      p = this.writeName(p, 0x10, 0x0f, info); // §6.2.3
    }
    return this.writeString(p, value);
  }

  /** The name part of a literal: a static or dynamic index, or the name as a string after index 0. */
  private writeName(p: number, first: number, prefixMax: number, info: NameInfo): number {
    if (info.staticIndex !== 0) return this.writeInt(p, first, prefixMax, info.staticIndex);
    if (info.newest >= 0) return this.writeInt(p, first, prefixMax, STATIC_TABLE_LENGTH + this.inserted - info.newest);
    this.buf[p] = first;
    return this.writeString(p + 1, info.name);
  }

  /** An integer with an N-bit prefix (§5.1); prefixMax is 2^N - 1. */
  private writeInt(p: number, first: number, prefixMax: number, value: number): number {
    const buf = this.buf;
    if (value < prefixMax) {
      buf[p] = first | value;
      return p + 1;
    }
    buf[p++] = first | prefixMax;
    value -= prefixMax;
    while (value >= 0x80) {
      buf[p++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buf[p] = value;
    return p + 1;
  }

  /** A string literal (§5.2); each char is written as one octet (header values are latin1). */
  private writeString(p: number, s: string): number {
    const len = s.length;
    if (this.huffman && len > 0) {
      const coded = huffmanEncodedLength(s);
      if (coded < len) return huffmanEncode(s, this.buf, this.writeInt(p, 0x80, 0x7f, coded));
    }
    p = this.writeInt(p, 0x00, 0x7f, len);
    const buf = this.buf;
    // Short strings are cheaper copied here than through a native call.
    if (len < 32) for (let i = 0; i < len; i++) buf[p + i] = s.charCodeAt(i);
    else buf.latin1Write(s, p, len);
    return p + len;
  }

  private insert(info: NameInfo, value: string, entrySize: number): void {
    this.evictTo(this.capacity - entrySize);
    if (this.count === this.entryValues.length) this.grow();
    const n = this.inserted++;
    const at = n & this.mask;
    this.entryInfos[at] = info;
    this.entryValues[at] = value;
    this.count++;
    this.size += entrySize;
    info.values!.set(value, n);
    info.newest = n;
  }

  private evictTo(target: number): void {
    while (this.size > target) {
      const n = this.inserted - this.count;
      const at = n & this.mask;
      const info = this.entryInfos[at]!;
      const value = this.entryValues[at]!;
      this.size -= info.name.length + value.length + ENTRY_OVERHEAD;
      if (info.values!.get(value) === n) info.values!.delete(value);
      if (info.newest === n) info.newest = -1;
      this.entryInfos[at] = undefined;
      this.entryValues[at] = "";
      this.count--;
    }
  }

  private grow(): void {
    const size = this.entryValues.length * 2;
    const infos = new Array<NameInfo | undefined>(size).fill(undefined);
    const values = new Array<string>(size).fill("");
    for (let k = 0; k < this.count; k++) {
      const n = this.inserted - 1 - k;
      infos[n & (size - 1)] = this.entryInfos[n & this.mask];
      values[n & (size - 1)] = this.entryValues[n & this.mask]!;
    }
    this.entryInfos = infos;
    this.entryValues = values;
    this.mask = size - 1;
  }
}
