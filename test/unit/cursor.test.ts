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

  it("tells a client nothing: the same position is sealed anew each time, and no digit of it shows", () => {
    const cursors = [
      codec.encode("keys", 1234567),
      codec.encode("keys", 1234567),
      codec.encode("keys", 1234568),
    ];
    expect(new Set(cursors).size).toBe(3);
    const plain = Buffer.alloc(8);
    plain.writeBigUInt64BE(1234567n);
    for (const cursor of cursors) {
      expect(cursor).toMatch(/^[A-Za-z0-9_-]{48}$/);
      const bytes = Buffer.from(cursor, "base64url");
      expect(bytes.toString("latin1")).not.toMatch(/123456/);
      expect(bytes.includes(plain.subarray(2))).toBe(false); // the position's bytes, even unformatted
    }
    const [first, second] = cursors.map((cursor) => Buffer.from(cursor, "base64url").subarray(12, 20));
    expect(first?.equals(second as Buffer)).toBe(false);
    expect(cursors.map((cursor) => codec.decode("keys", cursor))).toEqual([1234567, 1234567, 1234568]);
  });

  it("refuses another deployment's cursor (another secret)", () => {
    const other = new CursorCodec("another-deployment");
    expect(() => codec.decode("keys", other.encode("keys", 17))).toThrow("not one this server issued");
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
