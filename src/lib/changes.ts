/**
 * True when a PATCH body names no field (`{}`): there is nothing to change, so nothing is written,
 * no audit event is recorded, and `updatedAt` stays; the answer is the resource as it stands.
 */
export function asksNoChange(input: object | null | undefined): boolean {
  return input == null || Object.values(input).every((value) => value === undefined);
}
