// Type-checked against the client types openapi-typescript generates from /openapi.json (see lint.ts):
// it fails to compile when the document stops describing the API a client relies on.
import type { components, operations, paths } from "./keymint-api.js";

type Schemas = components["schemas"];
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assertType = <T extends true>(_proof: T): void => {};

type VerifyCode =
  | "VALID"
  | "NOT_FOUND"
  | "REVOKED"
  | "DISABLED"
  | "EXPIRED"
  | "INSUFFICIENT_SCOPES"
  | "RATE_LIMITED"
  | "USAGE_EXCEEDED";
assertType<Equal<Schemas["VerifyResult"]["code"], VerifyCode>>(true);
assertType<Equal<Schemas["VerifyCode"], VerifyCode>>(true);

type Permission = Schemas["RootKey"]["permissions"][number];
assertType<
  Equal<
    Permission,
    | "*"
    | "keyspaces:read"
    | "keyspaces:write"
    | "keys:read"
    | "keys:write"
    | "keys:verify"
    | "audit:read"
    | "root_keys:write"
  >
>(true);

assertType<Equal<Schemas["Problem"]["status"], number>>(true);
assertType<Equal<Schemas["Key"]["ownerId"], string | null>>(true);
assertType<Equal<Schemas["Key"]["expiresAt"], string | null>>(true);
assertType<Equal<Schemas["CreatedKey"]["key"], string>>(true);
assertType<Equal<Schemas["Key"]["refill"], { amount: number; interval: "daily" | "monthly" } | null>>(true);
assertType<Equal<Schemas["Key"]["ratelimit"], { limit: number; durationMs: number } | null>>(true);

// A client written against the generated types: the shapes it relies on must exist.
type VerifyBody = NonNullable<paths["/v1/keys/verify"]["post"]["requestBody"]>["content"]["application/json"];
// Fields with a default (cost here) stay optional for the client.
const request: VerifyBody = {
  key: "dm_live_4fJ9kQ2mXa1Bq8ZrT3vLw0YpN6cHs2KdF9gJm4XbR7tE3ighly",
  scopes: ["a"],
};
type CreateKeyBody = NonNullable<operations["createKey"]["requestBody"]>["content"]["application/json"];
// null clears a nullable field.
const clearing: Omit<CreateKeyBody, "keyspaceId"> = { refill: null, ratelimit: null, expiresAt: null };
const withMeta: CreateKeyBody = { keyspaceId: "ksp_1", meta: { plan: "pro", seats: 3 } };
type VerifyOk = operations["verifyKey"]["responses"][200]["content"]["application/json"];
type KeyListOk = operations["listKeys"]["responses"][200]["content"]["application/json"];
type CreateKeyOk = operations["createKey"]["responses"][201]["content"]["application/json"];
type Unauthorized = operations["listKeys"]["responses"][401]["content"]["application/problem+json"];
type ListKeysQuery = NonNullable<operations["listKeys"]["parameters"]["query"]>;
type WorkspaceCreated = operations["createWorkspace"]["responses"][201]["content"]["application/json"];

export function describe(result: VerifyOk): string {
  switch (result.code) {
    case "VALID":
      return `valid, ${result.remaining ?? "unlimited"} left`;
    case "RATE_LIMITED":
      return `retry at ${result.ratelimit?.resetAt}`;
    default:
      return result.code;
  }
}

export function nextPage(list: KeyListOk, query: ListKeysQuery): ListKeysQuery | null {
  return list.nextCursor === null ? null : { ...query, cursor: list.nextCursor, status: "all" };
}

export const samples: {
  request: VerifyBody;
  created?: CreateKeyOk;
  problem?: Unauthorized;
  workspace?: WorkspaceCreated;
  clearing: typeof clearing;
  withMeta: CreateKeyBody;
} = { request, clearing, withMeta };
