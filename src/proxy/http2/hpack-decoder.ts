// HPACK decoder (RFC 7541): turns a header block into a flat [name, value, ...] list and keeps
// the dynamic table in step with the peer's encoder.
//
// Per block it allocates the output array and one string per literal; an indexed field (the
// common case once a connection is warm) is an array lookup returning the stored strings.
// Literal octets are read as latin1, so every string has exactly one char per octet and an
// entry's size (name + value + 32, §4.1) is name.length + value.length + 32.
//
// Hostile peers: integers are capped at 2^31 - 1 and 5 continuation octets, every length is
// checked against the block end before it is read, Huffman output is bounded (8/5 of its
// input), and the header list is bounded by maxHeaderListSize: fields past the limit are
// decoded (the table must stay in sync) but not kept, so a block of many one-octet references
// to a large table entry costs nothing but the time to read it.

import { H2_ERROR, Http2ConnectionError } from "./errors.js";
import { STATIC_NAMES, STATIC_TABLE_LENGTH, STATIC_VALUES } from "./hpack-static-table.js";
import { huffmanDecode, huffmanDecodedBound } from "./huffman.js";

/** Buffer's native latin1 reader, which @types/node does not declare. */
type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

const MAX_INT = 0x7fffffff;
const ENTRY_OVERHEAD = 32;

function fail(message: string): never {
  throw new Http2ConnectionError(H2_ERROR.COMPRESSION_ERROR, `HPACK: ${message}`);
}

export class HpackDecoder {
  private readonly maxTableSize: number;
  private readonly maxHeaderListSize: number;
  /** The table's current maximum size (the last size update, initially maxTableSize). */
  private capacity: number;
  private size = 0;
  // The dynamic table: a ring of entries, newest at (inserted - 1) & mask.
  private names: string[] = new Array<string>(16).fill("");
  private values: string[] = new Array<string>(16).fill("");
  private mask = 15;
  private count = 0;
  private inserted = 0;
  /** Scratch for Huffman output, grown on demand (bounded by the largest string seen). */
  private scratch: Latin1Buffer = Buffer.allocUnsafe(256) as Latin1Buffer;
  /** Read position shared with the helpers (saves returning pairs). */
  private pos = 0;

  constructor(maxTableSize: number, maxHeaderListSize: number) {
    this.maxTableSize = maxTableSize;
    this.maxHeaderListSize = maxHeaderListSize;
    this.capacity = maxTableSize;
  }

  /** The dynamic table's current size in octets (RFC 7541 §4.1), for tests and diagnostics. */
  get dynamicTableSize(): number {
    return this.size;
  }

  /** The dynamic table's current maximum size (the peer's last size update). */
  get dynamicTableCapacity(): number {
    return this.capacity;
  }

  decode(block: Uint8Array, start: number, end: number): string[] | null {
    const buf = (block instanceof Buffer ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength)) as Latin1Buffer;
    if (end > buf.length || start < 0 || start > end) throw new RangeError("HPACK: block range out of bounds");
    const out: string[] = [];
    const limit = this.maxHeaderListSize;
    let listSize = 0;
    let overflow = false;
    let fieldSeen = false;
    let p = start;
    while (p < end) {
      const b = buf[p]!;
      let name: string;
      let value: string;
      if (b >= 0x80) {
        // Indexed Header Field (§6.1).
        let index = b & 0x7f;
        p++;
        if (index === 0x7f) {
          index = this.readIntTail(buf, p, end, 0x7f);
          p = this.pos;
        }
        if (index === 0) fail("index 0");
        if (index <= STATIC_TABLE_LENGTH) {
          name = STATIC_NAMES[index - 1]!;
          value = STATIC_VALUES[index - 1]!;
        } else {
          const k = index - STATIC_TABLE_LENGTH - 1;
          if (k >= this.count) fail(`index ${index} beyond the table`);
          const at = (this.inserted - 1 - k) & this.mask;
          name = this.names[at]!;
          value = this.values[at]!;
        }
      } else if (b >= 0x20 && b < 0x40) {
        // Dynamic Table Size Update (§6.3): only before the first field of the block (§4.2).
        if (fieldSeen) fail("dynamic table size update after a field");
        let size = b & 0x1f;
        p++;
        if (size === 0x1f) {
          size = this.readIntTail(buf, p, end, 0x1f);
          p = this.pos;
        }
        if (size > this.maxTableSize) fail(`dynamic table size update to ${size} above the limit ${this.maxTableSize}`);
        this.capacity = size;
        this.evictTo(size);
        continue;
      } else {
        // Literal Header Field: with incremental indexing (01xxxxxx, 6-bit index), without
        // indexing (0000xxxx) or never indexed (0001xxxx), both with a 4-bit index (§6.2).
        const indexing = b >= 0x40;
        const prefixMask = indexing ? 0x3f : 0x0f;
        let index = b & prefixMask;
        p++;
        if (index === prefixMask) {
          index = this.readIntTail(buf, p, end, prefixMask);
          p = this.pos;
        }
        if (index === 0) {
          name = this.readString(buf, p, end);
          p = this.pos;
        } else if (index <= STATIC_TABLE_LENGTH) {
          name = STATIC_NAMES[index - 1]!;
        } else {
          const k = index - STATIC_TABLE_LENGTH - 1;
          if (k >= this.count) fail(`name index ${index} beyond the table`);
          name = this.names[(this.inserted - 1 - k) & this.mask]!;
        }
        value = this.readString(buf, p, end);
        p = this.pos;
        if (indexing) this.insert(name, value);
      }
      fieldSeen = true;
      if (!overflow) {
        listSize += name.length + value.length + ENTRY_OVERHEAD;
        if (listSize > limit) overflow = true;
        else out.push(name, value);
      }
    }
    return overflow ? null : out;
  }

  /** Reads the continuation octets of an integer whose prefix was all ones (§5.1); sets pos. */
  private readIntTail(buf: Uint8Array, p: number, end: number, prefix: number): number {
    let value = prefix;
    let shift = 0;
    for (;;) {
      if (p >= end) fail("truncated integer");
      const b = buf[p++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (value > MAX_INT) fail("integer too large");
      if (b < 0x80) break;
      shift += 7;
      if (shift > 28) fail("integer has too many octets");
    }
    this.pos = p;
    return value;
  }

  /** Reads a string literal (§5.2) at p; sets pos after it. */
  private readString(buf: Latin1Buffer, p: number, end: number): string {
    if (p >= end) fail("truncated string");
    const b = buf[p++]!;
    let len = b & 0x7f;
    if (len === 0x7f) {
      len = this.readIntTail(buf, p, end, 0x7f);
      p = this.pos;
    }
    if (len > end - p) fail("string longer than the block");
    this.pos = p + len;
    if (b < 0x80) {
      // A native slice costs ~40 ns whatever the length; a few chars are cheaper joined here
      // (values like "1", "100", "?0" are common).
      if (len > 6) return buf.latin1Slice(p, p + len);
      let s = "";
      for (let i = p; i < p + len; i++) s += String.fromCharCode(buf[i]!);
      return s;
    }
    if (len === 0) return "";
    const bound = huffmanDecodedBound(len);
    if (bound > this.scratch.length) this.scratch = Buffer.allocUnsafe(Math.max(bound, 2 * this.scratch.length)) as Latin1Buffer;
    const n = huffmanDecode(buf, p, p + len, this.scratch);
    return this.scratch.latin1Slice(0, n);
  }

  /** Adds an entry, evicting from the oldest end first (§4.4). */
  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.capacity) {
      // An entry larger than the table empties it and is not added.
      this.evictTo(0);
      return;
    }
    this.evictTo(this.capacity - entrySize);
    if (this.count === this.names.length) this.grow();
    const at = this.inserted & this.mask;
    this.names[at] = name;
    this.values[at] = value;
    this.inserted++;
    this.count++;
    this.size += entrySize;
  }

  private evictTo(target: number): void {
    while (this.size > target) {
      const at = (this.inserted - this.count) & this.mask;
      this.size -= this.names[at]!.length + this.values[at]!.length + ENTRY_OVERHEAD;
      this.names[at] = "";
      this.values[at] = "";
      this.count--;
    }
  }

  /** Doubles the ring, keeping entries in insertion order (at most capacity / 32 of them). */
  private grow(): void {
    const n = this.names.length * 2;
    const names = new Array<string>(n).fill("");
    const values = new Array<string>(n).fill("");
    for (let k = 0; k < this.count; k++) {
      const from = (this.inserted - 1 - k) & this.mask;
      const to = (this.inserted - 1 - k) & (n - 1);
      names[to] = this.names[from]!;
      values[to] = this.values[from]!;
    }
    this.names = names;
    this.values = values;
    this.mask = n - 1;
  }
}
