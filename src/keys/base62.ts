import { randomBytes } from "node:crypto";

export const BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// 248 = 4 × 62: bytes at or above it are discarded so every character is equally likely (no modulo bias).
const UNBIASED_LIMIT = 248;

/** `length` characters of base62 from the CSPRNG, uniformly distributed. */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    // Ask for a little more than needed: about 3% of bytes are rejected.
    const bytes = randomBytes(length - out.length + 8);
    for (const byte of bytes) {
      if (byte >= UNBIASED_LIMIT) continue;
      out += BASE62_ALPHABET.charAt(byte % 62);
      if (out.length === length) break;
    }
  }
  return out;
}

/** A non-negative integer in base62, left-padded with "0" to `width`. */
export function encodeBase62(value: number, width: number): string {
  let rest = value;
  let out = "";
  do {
    out = BASE62_ALPHABET.charAt(rest % 62) + out;
    rest = Math.floor(rest / 62);
  } while (rest > 0);
  return out.padStart(width, "0");
}
