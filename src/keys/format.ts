import { crc32 } from "node:zlib";
import { encodeBase62, randomBase62 } from "./base62.js";

export const KEY_ID_LENGTH = 12;
export const SECRET_LENGTH = 32;
export const CHECKSUM_LENGTH = 6;
const BODY_LENGTH = KEY_ID_LENGTH + SECRET_LENGTH + CHECKSUM_LENGTH;

export const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,15}(_[a-z0-9]{1,16})?$/;
export const ROOT_KEY_PREFIX = "km_root";
const KEY_PATTERN = /^([a-z][a-z0-9]{0,15}(?:_[a-z0-9]{1,16})?)_([0-9A-Za-z]{50})$/;
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

/** Parses a presented key; null for anything that fails the format or the checksum. */
export function parseKey(candidate: string): ParsedKey | null {
  if (candidate.length > MAX_KEY_LENGTH) return null;
  const match = KEY_PATTERN.exec(candidate);
  if (match === null) return null;
  const prefix = match[1] as string;
  const body = match[2] as string;
  const checksumStart = candidate.length - CHECKSUM_LENGTH;
  if (checksumOf(candidate.slice(0, checksumStart)) !== candidate.slice(checksumStart)) return null;
  const keyId = body.slice(0, KEY_ID_LENGTH);
  return { prefix, keyId, start: `${prefix}_${keyId}`, last4: candidate.slice(-4) };
}
