import { existsSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BASE62_ALPHABET, decodeBase62, encodeBase62, randomBase62 } from "../../src/keys/base62.js";
import {
  checksumOf,
  generateKey,
  holdsKey,
  isValidKey,
  isValidRootKey,
  KEY_PATTERN,
  parseKey,
  SECRET_SCANNER_REGEX,
} from "../../src/keys/format.js";

interface Vectors {
  valid: { prefix: string; keyId: string; secret: string; checksum: string; key: string }[];
  invalid: { key: string; why: string }[];
}

// The contract's vectors live in ../shared beside the repository; a copy is committed for a lone clone.
const sharedVectors = new URL("../../../shared/key-format-vectors.json", import.meta.url);
const committedVectors = new URL("../fixtures/key-format-vectors.json", import.meta.url);
const vectors: Vectors = JSON.parse(readFileSync(committedVectors, "utf8"));

describe("key format", () => {
  it.runIf(existsSync(sharedVectors))("uses the same vectors as ../shared", () => {
    expect(JSON.parse(readFileSync(sharedVectors, "utf8"))).toEqual(vectors);
  });

  it.each(vectors.valid)("computes checksum $checksum for $key", (vector) => {
    expect(checksumOf(`${vector.prefix}_${vector.keyId}${vector.secret}`)).toBe(vector.checksum);
  });

  it.each(vectors.valid)("parses valid vector $key", (vector) => {
    expect(parseKey(vector.key)).toEqual({
      prefix: vector.prefix,
      keyId: vector.keyId,
      start: `${vector.prefix}_${vector.keyId}`,
      last4: vector.key.slice(-4),
    });
    expect(SECRET_SCANNER_REGEX.test(vector.key)).toBe(true);
  });

  // Contract §1, verbatim.
  const CONTRACT_SCANNER_REGEX = "\\b[a-z][a-z0-9]{0,15}(?:_[a-z0-9]{1,16})?_[0-9A-Za-z]{50}\\b";
  const sharedContract = new URL("../../../shared/api-contract.md", import.meta.url);

  it("exports the secret-scanner regex exactly as contract §1 writes it", () => {
    expect(SECRET_SCANNER_REGEX.source).toBe(CONTRACT_SCANNER_REGEX);
  });

  it.runIf(existsSync(sharedContract))("writes it as ../shared's contract does", () => {
    const written = /Regex for secret scanners: `([^`]+)`/.exec(readFileSync(sharedContract, "utf8"))?.[1];
    expect(written).toBe(CONTRACT_SCANNER_REGEX);
  });

  it.each(vectors.invalid)("rejects invalid vector ($why)", (vector) => {
    expect(parseKey(vector.key)).toBeNull();
    expect(isValidKey(vector.key)).toBe(false);
  });

  /** What parseKey answers, by the contract's regex and checksum: the reference the scanner must equal. */
  function byRegex(candidate: string) {
    const match = KEY_PATTERN.exec(candidate);
    if (match === null) return null;
    const [, prefix = "", body = ""] = match;
    if (checksumOf(candidate.slice(0, -6)) !== candidate.slice(-6)) return null;
    const keyId = body.slice(0, 12);
    return { prefix, keyId, start: `${prefix}_${keyId}`, last4: candidate.slice(-4) };
  }

  it("parses exactly what the contract's regex and checksum accept, for any string", () => {
    const prefixChar = fc.constantFrom(..."az09_Z-".split(""));
    const nearPrefix = fc.array(prefixChar, { minLength: 0, maxLength: 36 }).map((chars) => chars.join(""));
    const bodyChar = fc.constantFrom(..."aZ09_-".split(""));
    // Near misses of every kind: prefixes of every length and shape, bodies with a stray character,
    // right and wrong checksums, and arbitrary strings.
    const candidate = fc.oneof(
      fc.tuple(nearPrefix, fc.boolean()).map(([prefix, fix]) => {
        const head = `${prefix}_${randomBase62(44)}`;
        return fix ? head + checksumOf(head) : `${head}${randomBase62(6)}`;
      }),
      fc
        .tuple(nearPrefix, fc.array(bodyChar, { minLength: 1, maxLength: 3 }), fc.nat(49))
        .map(([prefix, stray, at]) => {
          const head = `${prefix}_${randomBase62(44)}`;
          const key = head + checksumOf(head);
          const cut = key.length - 50 + at;
          return key.slice(0, cut) + stray.join("") + key.slice(cut + stray.length);
        }),
      fc.string({ maxLength: 90 }),
    );
    fc.assert(
      fc.property(candidate, (text) => {
        const expected = byRegex(text);
        expect(parseKey(text)).toStrictEqual(expected);
        expect(isValidKey(text)).toBe(expected !== null);
        expect(isValidRootKey(text)).toBe(expected?.prefix === "km_root");
      }),
      { numRuns: 20_000 },
    );
  });

  it("accepts as root keys only well-formed km_root keys", () => {
    expect(isValidRootKey(generateKey("km_root").key)).toBe(true);
    expect(isValidRootKey(generateKey("km_roots").key)).toBe(false);
    expect(isValidRootKey(generateKey("km").key)).toBe(false);
    expect(isValidRootKey(generateKey("dm_live").key)).toBe(false);
  });

  it("decodes base62 as encodeBase62 encodes it, and refuses other characters", () => {
    for (const value of [0, 61, 62, 123_456_789, 2 ** 32 - 1]) {
      expect(decodeBase62(encodeBase62(value, 6), 0, 6)).toBe(value);
    }
    for (const text of ["00000:", "0000_0", "00000@", "0000 0", "00000[", "00000{"]) {
      expect(decodeBase62(text, 0, 6)).toBeNaN();
    }
  });

  it("generates keys that parse, with the prefix, a 12-char keyId and a valid checksum", () => {
    for (const prefix of ["dm", "dm_live", "flagbit_prod2026", "km_root"]) {
      const generated = generateKey(prefix);
      expect(generated.key).toMatch(new RegExp(`^${prefix}_[0-9A-Za-z]{50}$`));
      expect(parseKey(generated.key)).toEqual({
        prefix,
        keyId: generated.keyId,
        start: generated.start,
        last4: generated.last4,
      });
    }
  });

  it("draws base62 characters without modulo bias", () => {
    const counts = new Map<string, number>();
    const sample = randomBase62(62 * 2000);
    for (const char of sample) counts.set(char, (counts.get(char) ?? 0) + 1);
    expect(counts.size).toBe(62);
    // Each character is expected 2000 times; a biased generator skews the first 8 by about 25%.
    for (const char of BASE62_ALPHABET) {
      const count = counts.get(char) ?? 0;
      expect(count, `count of ${char}`).toBeGreaterThan(1750);
      expect(count, `count of ${char}`).toBeLessThan(2250);
    }
  });

  it("pads base62 to the requested width", () => {
    expect(encodeBase62(0, 6)).toBe("000000");
    expect(encodeBase62(61, 6)).toBe("00000z");
    expect(encodeBase62(2 ** 32 - 1, 6)).toBe("4gfFC3");
  });

  it("rejects a key that differs in one secret character even with the old checksum", () => {
    const { key } = generateKey("dm");
    const flipped = key.slice(0, 20) + (key[20] === "A" ? "B" : "A") + key.slice(21);
    expect(parseKey(flipped)).toBeNull();
  });

  it("finds a key with a matching checksum anywhere in free text, whatever surrounds it", () => {
    const { key } = generateKey("dm_live");
    const rootKey = generateKey("km_root").key;
    for (const text of [
      key,
      rootKey,
      `leaked: ${key}.`,
      `x${key}y`,
      `req_${key}`,
      `${key}0000`,
      `"${key}"`,
    ]) {
      expect(holdsKey(text), text).toBe(true);
    }
    for (const vector of vectors.valid) expect(holdsKey(`see ${vector.key}`), vector.key).toBe(true);
  });

  it("takes no text without a checksum-valid key for one: near misses, other vendors' tokens, words", () => {
    const { key } = generateKey("dm_live");
    const lastChanged = key.slice(0, -1) + (key.endsWith("a") ? "b" : "a");
    for (const text of [
      lastChanged,
      key.slice(1 + key.indexOf("_", 3)),
      `sk_live_${"a".repeat(50)}`,
      "customer_42",
      "",
    ]) {
      expect(holdsKey(text), text).toBe(false);
    }
    // Of the contract's invalid keys, two still hold a valid one: with a character after it, or after "Bearer ".
    const holdingOne = new Set(["one char long", "scheme included"]);
    for (const vector of vectors.invalid)
      expect(holdsKey(vector.key), vector.why).toBe(holdingOne.has(vector.why));
  });

  it("finds a key with the longest prefix the format allows (33 characters) in free text", () => {
    const prefix = "abcdefghijklmnop_qrstuvwxyz012345"; // 16 + "_" + 16
    const { key } = generateKey(prefix);
    expect(isValidKey(key)).toBe(true);
    for (const text of [key, `leaked: ${key}.`, `x${key}y`]) expect(holdsKey(text), text).toBe(true);
  });

  it("refuses a prefix whose part before its underscore is 17 characters, checksum and all", () => {
    const head = `abcdefghijklmnopq_x_${randomBase62(44)}`; // [a-z][a-z0-9]{0,15} allows 16
    const candidate = head + checksumOf(head);
    expect(KEY_PATTERN.test(candidate)).toBe(false);
    expect(isValidKey(candidate)).toBe(false);
    expect(parseKey(candidate)).toBeNull();
  });
});
