// The HPACK Huffman code (RFC 7541 Appendix B) and its table-driven coder.
//
// The code is canonical (codes of one length are consecutive, in symbol order, and each
// length continues where the shorter one ended), so the bit length of each of the 257
// symbols (256 octets + EOS) determines every code. The lengths are stored as one letter
// per symbol: 'a' = 5 bits ... 'z' = 30 bits.
//
// Decoding runs a byte-at-a-time state machine built once at module load: a state is a node
// of the code tree (the bits read since the last symbol); each (state, input byte) entry
// gives the next state, the 0-2 symbols completed on the way, whether the bits left over
// are valid padding (at most 7 bits, all ones: a prefix of EOS), and whether EOS was hit.
// One table read per input byte, no per-bit work.

import { H2_ERROR, Http2ConnectionError } from "./errors.js";

const LENGTH_LETTERS =
  "isxxxxxxxtzxxzxxxxxxxxzxxxxxxxxxbffhibdgffdgdbbbaaabbbbbbbcdkbhf" +
  "ibccccccccccccccccccccccdcdioijbkabababbbaccbbbabcbaabccccckgjix" +
  "prpprrrsrssssststtrstssssqrsrsstrqprrssqsrrtqrssqqrqsrssprrrsrrs" +
  "vvporsruvvvwwvtuoqvwwvwtqqvvxwwwptpqrqqsrruuttvsvwvvwwwwwxwwwwwv" +
  "z";

const EOS = 256;

/** Bit length of each symbol's code (index 256 is EOS). */
export const HUFFMAN_LENGTHS = new Uint8Array(257);
/** Each symbol's code, right-aligned. */
export const HUFFMAN_CODES = new Uint32Array(257);

{
  for (let s = 0; s < 257; s++) HUFFMAN_LENGTHS[s] = LENGTH_LETTERS.charCodeAt(s) - 97 + 5;
  const order = Array.from({ length: 257 }, (_, s) => s).sort((a, b) => HUFFMAN_LENGTHS[a]! - HUFFMAN_LENGTHS[b]! || a - b);
  let code = 0;
  let prev = HUFFMAN_LENGTHS[order[0]!]!;
  for (let i = 0; i < order.length; i++) {
    const s = order[i]!;
    const len = HUFFMAN_LENGTHS[s]!;
    if (i > 0) code = (code + 1) * 2 ** (len - prev);
    prev = len;
    HUFFMAN_CODES[s] = code;
  }
}

// Decoding table entry layout.
const NEXT_MASK = 0xff; // bits 0-7: next state
const SYM1_SHIFT = 8; // bits 8-15: first completed symbol
const SYM2_SHIFT = 16; // bits 16-23: second completed symbol
const COUNT_SHIFT = 24; // bits 24-25: how many symbols completed
const ACCEPT = 1 << 26; // the bits pending after this byte are valid padding
const FAIL = 1 << 27; // EOS appeared in the input

/** (state << 8 | byte) -> entry. */
const DECODE = new Uint32Array(256 * 256);

{
  // The code tree: internal node n has children child[2n] (bit 0) and child[2n + 1] (bit 1);
  // a child >= 0 is an internal node, < 0 is the leaf of symbol -child - 1.
  const child = new Int32Array(2 * 256).fill(0);
  const depth = new Uint8Array(256);
  const onesPath = new Uint8Array(256);
  onesPath[0] = 1;
  let nodes = 1;
  for (let s = 0; s < 257; s++) {
    const len = HUFFMAN_LENGTHS[s]!;
    const code = HUFFMAN_CODES[s]!;
    let node = 0;
    for (let i = len - 1; i > 0; i--) {
      const bit = (code >>> i) & 1;
      let next = child[2 * node + bit]!;
      if (next === 0) {
        next = nodes++;
        child[2 * node + bit] = next;
        depth[next] = depth[node]! + 1;
        onesPath[next] = onesPath[node]! & bit;
      }
      node = next;
    }
    child[2 * node + (code & 1)] = -s - 1;
  }
  if (nodes !== 256) throw new Error(`HPACK Huffman tree has ${nodes} internal nodes, expected 256`);
  for (let state = 0; state < 256; state++) {
    for (let byte = 0; byte < 256; byte++) {
      let node = state;
      let count = 0;
      let entry = 0;
      for (let i = 7; i >= 0; i--) {
        const next = child[2 * node + ((byte >>> i) & 1)]!;
        if (next >= 0) {
          node = next;
          continue;
        }
        const sym = -next - 1;
        if (sym === EOS) {
          entry |= FAIL;
          break;
        }
        entry |= sym << (count === 0 ? SYM1_SHIFT : SYM2_SHIFT);
        count++;
        node = 0;
      }
      entry |= node | (count << COUNT_SHIFT);
      if (node === 0 || (onesPath[node] === 1 && depth[node]! <= 7)) entry |= ACCEPT;
      DECODE[(state << 8) | byte] = entry >>> 0;
    }
  }
}

/** The most octets `len` Huffman-coded octets can decode to (the shortest code is 5 bits). */
export function huffmanDecodedBound(len: number): number {
  return Math.floor((len * 8) / 5);
}

/**
 * Decodes src[start, end) into dst from 0 (dst holds at least huffmanDecodedBound(end - start)
 * octets) and returns how many octets it wrote. Throws a COMPRESSION_ERROR on EOS in the data
 * or padding that is longer than 7 bits or not all ones (RFC 7541 §5.2).
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number, dst: Uint8Array): number {
  let state = 0;
  let accept = ACCEPT;
  let n = 0;
  for (let p = start; p < end; p++) {
    const e = DECODE[(state << 8) | src[p]!]!;
    if ((e & FAIL) !== 0) throw new Http2ConnectionError(H2_ERROR.COMPRESSION_ERROR, "HPACK: Huffman-coded string contains EOS");
    const count = e >>> COUNT_SHIFT;
    if ((count & 3) !== 0) {
      dst[n++] = (e >>> SYM1_SHIFT) & 0xff;
      if ((count & 2) !== 0) dst[n++] = (e >>> SYM2_SHIFT) & 0xff;
    }
    state = e & NEXT_MASK;
    accept = e & ACCEPT;
  }
  if (accept === 0) throw new Http2ConnectionError(H2_ERROR.COMPRESSION_ERROR, "HPACK: invalid Huffman padding");
  return n;
}

/** The Huffman-coded length in octets of s (each char taken as one octet, its code & 0xff). */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFFMAN_LENGTHS[s.charCodeAt(i) & 0xff]!;
  return (bits + 7) >>> 3;
}

/** Writes the Huffman coding of s (chars as octets) at dst[offset] and returns the offset after it. */
export function huffmanEncode(s: string, dst: Uint8Array, offset: number): number {
  let p = offset;
  let acc = 0; // the pending bits, fewer than 8 between symbols
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    let len = HUFFMAN_LENGTHS[c]!;
    let code = HUFFMAN_CODES[c]!;
    if (len > 24) {
      // Keep the accumulator within 31 bits: emit the high part first.
      const hi = len - 16;
      acc = (acc << hi) | (code >>> 16);
      bits += hi;
      while (bits >= 8) {
        bits -= 8;
        dst[p++] = (acc >>> bits) & 0xff;
      }
      acc &= (1 << bits) - 1;
      len = 16;
      code &= 0xffff;
    }
    acc = (acc << len) | code;
    bits += len;
    while (bits >= 8) {
      bits -= 8;
      dst[p++] = (acc >>> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  // Pad with the most significant bits of EOS (all ones).
  if (bits > 0) dst[p++] = ((acc << (8 - bits)) | (0xff >>> bits)) & 0xff;
  return p;
}
