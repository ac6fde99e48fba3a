import { crc32 } from "node:zlib";
import { decodeBase62, encodeBase62, randomBase62 } from "./base62.js";

export const KEY_ID_LENGTH = 12;
export const SECRET_LENGTH = 32;
export const CHECKSUM_LENGTH = 6;
const BODY_LENGTH = KEY_ID_LENGTH + SECRET_LENGTH + CHECKSUM_LENGTH;

export const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,15}(_[a-z0-9]{1,16})?$/;
export const ROOT_KEY_PREFIX = "km_root";
/** The key format as a regex (contract §1); scan() checks the same by hand, faster, and tests hold it to this. */
export const KEY_PATTERN = /^([a-z][a-z0-9]{0,15}(?:_[a-z0-9]{1,16})?)_([0-9A-Za-z]{50})$/;
/** The longest a well-formed key can be: prefix (≤ 33) + "_" + body (50). */
export const MAX_KEY_LENGTH = 33 + 1 + BODY_LENGTH;

/** The regex secret scanners use to find KeyMint keys in text (contract §1). */
export const SECRET_SCANNER_REGEX = /\b[a-z][a-z0-9]{0,15}(?:_[a-z0-9]{1,16})?_[0-9A-Za-z]{50}\b/;

export interface ParsedKey {
  prefix: string;
  keyId: string;
  /** `<prefix>_<keyId>`: the display hint. */
  start: string;
  last4: string;
}

export interface GeneratedKey extends ParsedKey {
  key: string;
}

/** CRC-32 (IEEE) of everything before the checksum, in base62, 6 chars. */
export function checksumOf(withoutChecksum: string): string {
  return encodeBase62(crc32(withoutChecksum), CHECKSUM_LENGTH); // a string is CRC'd as its UTF-8 bytes
}

export function generateKey(prefix: string): GeneratedKey {
  const keyId = randomBase62(KEY_ID_LENGTH);
  const head = `${prefix}_${keyId}${randomBase62(SECRET_LENGTH)}`;
  const key = head + checksumOf(head);
  return { key, prefix, keyId, start: `${prefix}_${keyId}`, last4: key.slice(-4) };
}

/**
 * Whether `candidate` has the key format and its checksum matches, without building anything: every
 * verify checks this first (root-key authentication runs the same scan, in isValidRootKey), so it is
 * one pass over the characters that checks them and computes the CRC-32 as it goes (see scan).
 */
export function isValidKey(candidate: string): boolean {
  return scan(candidate) !== -1;
}

/** Whether `candidate` is a well-formed root key (km_root_…) with a matching checksum. */
export function isValidRootKey(candidate: string): boolean {
  return (
    candidate.length === ROOT_KEY_PREFIX.length + 1 + BODY_LENGTH &&
    candidate.startsWith(ROOT_KEY_PREFIX) &&
    scan(candidate) !== -1
  );
}

// Where a key's body may begin in free text: after an underscore, 50 base62 characters.
const BODY_AFTER_SEPARATOR = /_(?=[0-9A-Za-z]{50})/g;
const MAX_PREFIX_LENGTH = MAX_KEY_LENGTH - 1 - BODY_LENGTH;

/**
 * Whether `text` holds a well-formed key with a matching checksum anywhere in it, whatever comes
 * before or after it ("leaked:<key>", "x<key>y"). Text that is no key passes the checksum about once in
 * 56 billion tries, so other vendors' tokens and ordinary words are not taken for keys.
 */
export function holdsKey(text: string): boolean {
  for (const { index: separator } of text.matchAll(BODY_AFTER_SEPARATOR)) {
    const end = separator + 1 + BODY_LENGTH;
    for (let start = Math.max(0, separator - MAX_PREFIX_LENGTH); start < separator; start++) {
      if (isValidKey(text.slice(start, end))) return true;
    }
  }
  return false;
}

/** Parses a presented key; null for anything that fails the format or the checksum. */
export function parseKey(candidate: string): ParsedKey | null {
  const separator = scan(candidate);
  if (separator === -1) return null;
  const prefix = candidate.slice(0, separator);
  const keyId = candidate.slice(separator + 1, separator + 1 + KEY_ID_LENGTH);
  return { prefix, keyId, start: `${prefix}_${keyId}`, last4: candidate.slice(-4) };
}

// Character classes of the key format, by char code (all ASCII).
const LOWER_OR_DIGIT = 1;
const UPPER = 2;
const UNDERSCORE = 95;
const CHAR_CLASS = new Uint8Array(128);
for (let code = 48; code <= 57; code++) CHAR_CLASS[code] = LOWER_OR_DIGIT;
for (let code = 97; code <= 122; code++) CHAR_CLASS[code] = LOWER_OR_DIGIT;
for (let code = 65; code <= 90; code++) CHAR_CLASS[code] = UPPER;

// CRC-32 (IEEE, reflected, as zlib's): the checksum of a string of ASCII characters is that of its char codes.
const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let bit = 0; bit < 8; bit++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}

/**
 * The index of the "_" between prefix and body when `candidate` matches KEY_PATTERN and its checksum,
 * else -1, in one pass. The body (50 base62 characters) holds no "_", so the separator is the 51st
 * character from the end; the prefix is [a-z][a-z0-9]{0,15}, then optionally _[a-z0-9]{1,16}. Every
 * character checked is ASCII, so the CRC-32 of the char codes is that of the UTF-8 bytes. KEY_PATTERN's
 * exec and zlib's crc32 on a slice took 0.55 µs a key in a loop; this takes 0.14 µs.
 */
function scan(candidate: string): number {
  const length = candidate.length;
  if (length > MAX_KEY_LENGTH || length < BODY_LENGTH + 2) return -1;
  const separator = length - BODY_LENGTH - 1;
  const checksumStart = length - CHECKSUM_LENGTH;
  let crc = -1;
  let firstPart = 0; // characters of the prefix before its "_", if it has one
  for (let i = 0; i < checksumStart; i++) {
    const code = candidate.charCodeAt(i);
    if (i < separator) {
      if (code === UNDERSCORE) {
        if (firstPart !== 0 || i === 0) return -1;
        firstPart = i;
      } else if (code > 127 || CHAR_CLASS[code] !== LOWER_OR_DIGIT || (i === 0 && code < 97)) {
        return -1;
      }
    } else if (i === separator) {
      if (code !== UNDERSCORE) return -1;
    } else if (code > 127 || CHAR_CLASS[code] === 0) {
      return -1;
    }
    crc = (CRC_TABLE[(crc ^ code) & 0xff] as number) ^ (crc >>> 8);
  }
  if (firstPart === 0) {
    if (separator > 16) return -1;
  } else {
    const secondPart = separator - firstPart - 1;
    if (firstPart > 16 || secondPart < 1 || secondPart > 16) return -1;
  }
  const checksum = decodeBase62(candidate, checksumStart, CHECKSUM_LENGTH);
  return checksum === (crc ^ -1) >>> 0 ? separator : -1;
}
