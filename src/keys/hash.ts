import { createHash, hash, timingSafeEqual } from "node:crypto";
import argon2 from "argon2";
import type { Argon2Queue, Argon2WorkOptions } from "./argon2-queue.js";

export type HashAlgorithm = "sha256" | "argon2id";

// OWASP's minimum recommendation for argon2id.
const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function sha256Hex(value: string): string {
  // One-shot: a quarter of the cost of createHash().update().digest(), twice per verify.
  return hash("sha256", value, "hex");
}

/**
 * Hashes a new key for storage. argon2 runs on libuv's thread pool, off the event loop, its turn given
 * by `queue` (`work` says whose it is, and how to tell that its client hung up: see Argon2Queue.run).
 */
export async function hashKey(
  key: string,
  algorithm: HashAlgorithm,
  queue: Argon2Queue,
  work: Argon2WorkOptions,
): Promise<string> {
  if (algorithm === "sha256") return sha256Hex(key);
  return queue.run(() => argon2.hash(key, ARGON2_OPTIONS), work);
}

/** Constant-time compare of two hex SHA-256 digests. */
export function sha256Equals(presentedHex: string, storedHex: string): boolean {
  const presented = Buffer.from(presentedHex, "hex");
  const stored = Buffer.from(storedHex, "hex");
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}

/** Constant-time compare of two secrets of any length (hashes both, so lengths never leak). */
export function secretEquals(presented: string, expected: string): boolean {
  return timingSafeEqual(
    createHash("sha256").update(presented).digest(),
    createHash("sha256").update(expected).digest(),
  );
}

function isArgon2Hash(stored: string): boolean {
  return stored.startsWith("$argon2");
}

/**
 * Checks a presented key against its stored hash. `presentedSha256` is the digest the caller already
 * computed for the cache key, so a sha256 keyspace hashes each presented key once.
 */
export async function keyMatchesHash(
  key: string,
  presentedSha256: string,
  stored: string,
  queue: Argon2Queue,
  tenant: string,
): Promise<boolean> {
  if (isArgon2Hash(stored)) {
    // Only argon2's own failure (a malformed stored hash) means "no match": a refusal by the queue at
    // shutdown is not an answer about the key, and must not be cached as one.
    return queue.run(() => argon2.verify(stored, key).catch(() => false), { tenant });
  }
  return sha256Equals(presentedSha256, stored);
}
