import { describe, expect, it } from "vitest";
import { CursorCodec } from "../../src/lib/cursor.js";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.!+/ ";

describe("CursorCodec", () => {
  const codec = new CursorCodec("a-secret-of-the-deployment");

  it("reads back the position it wrote, for the list it wrote it for", () => {
    for (const seq of [0, 1, 17, 999_999, Number.MAX_SAFE_INTEGER]) {
      expect(codec.decode("keys", codec.encode("keys", seq))).toBe(seq);
    }
    expect(() => codec.decode("audit", codec.encode("keys", 17))).toThrow("not one this server issued");
  });

  it("refuses every cursor one character away from one it wrote: changed, inserted or removed", () => {
    const cursor = codec.encode("keys", 17);
    const variants = new Set<string>();
    for (let i = 0; i <= cursor.length; i++) {
      variants.add(cursor.slice(0, i) + cursor.slice(i + 1));
      for (const character of ALPHABET) {
        variants.add(cursor.slice(0, i) + character + cursor.slice(i + 1));
        variants.add(cursor.slice(0, i) + character + cursor.slice(i));
      }
    }
    variants.delete(cursor);
    const accepted = [...variants].filter((variant) => {
      try {
        codec.decode("keys", variant);
        return true;
      } catch {
        return false;
      }
    });
    expect(variants.size).toBeGreaterThan(4_000);
    expect(accepted).toEqual([]);
  });
});
