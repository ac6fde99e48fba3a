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

/**
 * The number `width` base62 characters of `text` from `start` stand for; NaN when one is not base62.
 * A checksum is compared this way, as a number, instead of encoding the expected one as text.
 */
export function decodeBase62(text: string, start: number, width: number): number {
  let value = 0;
  for (let i = start; i < start + width; i++) {
    const code = text.charCodeAt(i);
    const digit =
      code >= 48 && code <= 57
        ? code - 48
        : code >= 65 && code <= 90
          ? code - 55
          : code >= 97 && code <= 122
            ? code - 61
            : -1;
    if (digit === -1) return Number.NaN;
    value = value * 62 + digit;
  }
  return value;
}
