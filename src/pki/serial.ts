// Certificate serial numbers: 16 random bytes as a positive DER INTEGER of fixed length.
// The top bit is cleared so the INTEGER stays positive without a 0x00 pad, and a zero
// first byte is avoided so the encoding stays minimal; that leaves 127 random bits, far
// above the 64 that RFC 5280 / CA/B practice ask for.

import { randomFillSync } from "node:crypto";

export const SERIAL_LENGTH = 16;

export function randomSerial(): Buffer {
  const b = Buffer.allocUnsafe(SERIAL_LENGTH);
  randomFillSync(b);
  b[0] = b[0]! & 0x7f || 0x01;
  return b;
}
