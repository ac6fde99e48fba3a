import { randomBase62 } from "../keys/base62.js";

type IdKind = "ws" | "ksp" | "evt";

/** The one generator of public resource ids: `<kind>_<base62>`. Key ids come from the key itself. */
export function newId(kind: IdKind): string {
  return `${kind}_${randomBase62(16)}`;
}
