import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BASE62_ALPHABET, encodeBase62, randomBase62 } from "../../src/keys/base62.js";
import { checksumOf, generateKey, parseKey, SECRET_SCANNER_REGEX } from "../../src/keys/format.js";

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

  it.each(vectors.invalid)("rejects invalid vector ($why)", (vector) => {
    expect(parseKey(vector.key)).toBeNull();
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
});
