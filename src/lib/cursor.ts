import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { ApiError } from "./errors.js";

const IV_BYTES = 12;
const POSITION_BYTES = 8;
const TAG_BYTES = 16;
/** 36 bytes: 48 base64url characters, with no spare bits a lenient decoder would pass over. */
const CURSOR_BYTES = IV_BYTES + POSITION_BYTES + TAG_BYTES;

/**
 * Opaque pagination cursors: the position (an internal sequence number, shared by every workspace)
 * sealed with AES-256-GCM under a key derived from a secret kept in the database, with the list's name
 * as associated data. A cursor tells a client nothing (not how many rows other workspaces added since),
 * and a tampered or foreign one fails its tag and is refused with 400 instead of paging wrongly.
 */
export class CursorCodec {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = createHash("sha256").update(`keymint cursor key\0${secret}`).digest();
  }

  encode(list: string, seq: number): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv).setAAD(Buffer.from(list));
    const position = Buffer.alloc(POSITION_BYTES);
    position.writeBigUInt64BE(BigInt(seq));
    const sealed = Buffer.concat([iv, cipher.update(position), cipher.final(), cipher.getAuthTag()]);
    return sealed.toString("base64url");
  }

  decode(list: string, cursor: string): number {
    const sealed = Buffer.from(cursor, "base64url");
    // Node's decoder passes over padding and stray characters, so other strings decode to the same
    // bytes: only the one spelling this server writes is its cursor.
    if (sealed.length !== CURSOR_BYTES || sealed.toString("base64url") !== cursor) throw invalidCursor();
    const decipher = createDecipheriv("aes-256-gcm", this.key, sealed.subarray(0, IV_BYTES))
      .setAAD(Buffer.from(list))
      .setAuthTag(sealed.subarray(IV_BYTES + POSITION_BYTES));
    let position: Buffer;
    try {
      position = Buffer.concat([
        decipher.update(sealed.subarray(IV_BYTES, IV_BYTES + POSITION_BYTES)),
        decipher.final(),
      ]);
    } catch {
      throw invalidCursor(); // the tag does not hold: not this server's cursor for this list
    }
    const seq = Number(position.readBigUInt64BE());
    if (!Number.isSafeInteger(seq)) throw invalidCursor();
    return seq;
  }

  /** Where a list continues from: the sequence number in `cursor`, or undefined (from the newest) without one. */
  before(list: string, cursor: string | undefined): number | undefined {
    return cursor === undefined ? undefined : this.decode(list, cursor);
  }

  /**
   * Splits rows fetched with `limit + 1` into one page and the cursor to the next (null on the last page):
   * the extra row only says that there is more.
   */
  page<T extends { seq: number }>(
    list: string,
    rows: T[],
    limit: number,
  ): { rows: T[]; nextCursor: string | null } {
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { rows: page, nextCursor: rows.length > limit && last ? this.encode(list, last.seq) : null };
  }
}

function invalidCursor(): ApiError {
  return new ApiError("BAD_REQUEST", "The cursor is not one this server issued for this list.", [
    { path: "cursor", message: "invalid cursor" },
  ]);
}
