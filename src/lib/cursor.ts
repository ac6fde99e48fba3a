import { createHmac, timingSafeEqual } from "node:crypto";
import { ApiError } from "./errors.js";

/**
 * Opaque pagination cursors: the position (an internal sequence number) signed with a secret kept
 * in the database, so a tampered or foreign cursor is refused with 400 instead of paging wrongly.
 */
export class CursorCodec {
  constructor(private readonly secret: string) {}

  encode(list: string, seq: number): string {
    const payload = `${list}.${seq}`;
    return `${Buffer.from(payload).toString("base64url")}.${this.sign(payload)}`;
  }

  decode(list: string, cursor: string): number {
    const [encoded, signature, extra] = cursor.split(".");
    if (encoded === undefined || signature === undefined || extra !== undefined) throw invalidCursor();
    const payload = Buffer.from(encoded, "base64url").toString();
    // Node's decoder passes over padding, stray characters and unused trailing bits, so other strings
    // decode to a signed payload too: only the one spelling this server writes is its cursor.
    if (Buffer.from(payload).toString("base64url") !== encoded) throw invalidCursor();
    const expected = Buffer.from(this.sign(payload));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalidCursor();
    const [cursorList, seqText] = payload.split(".");
    const seq = Number(seqText);
    if (cursorList !== list || !Number.isSafeInteger(seq) || seq < 0) throw invalidCursor();
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

  private sign(payload: string): string {
    return createHmac("sha256", this.secret).update(payload).digest("base64url").slice(0, 22);
  }
}

function invalidCursor(): ApiError {
  return new ApiError("BAD_REQUEST", "The cursor is not one this server issued for this list.", [
    { path: "cursor", message: "invalid cursor" },
  ]);
}
