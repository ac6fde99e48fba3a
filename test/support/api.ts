import { expect } from "vitest";
import { ADMIN_TOKEN, type ApiResponse, type TestApp } from "../helpers.js";

/** Asserts a problem+json answer with this status and code, and the contract's fields. */
export function expectProblem(response: ApiResponse, status: number, code: string): void {
  expect(
    { status: response.status, code: response.body?.code },
    `expected ${status} ${code}, got ${response.status}: ${response.text}`,
  ).toEqual({ status, code });
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  expect(response.body).toMatchObject({
    type: expect.stringMatching(/^https:\/\//),
    title: expect.any(String),
    status,
    detail: expect.any(String),
    code,
    requestId: response.headers.get("x-request-id"),
  });
}

/** Asserts 400 VALIDATION_FAILED whose `errors` name exactly these paths, one entry each. */
export function expectValidationErrors(response: ApiResponse, paths: string[]): void {
  expectProblem(response, 400, "VALIDATION_FAILED");
  const given: string[] = response.body.errors.map((error: { path: string }) => error.path);
  expect(given.sort(), response.text).toEqual([...paths].sort());
  for (const error of response.body.errors) expect(error.message).toEqual(expect.any(String));
}

/** Asserts a success status, showing the body when it is not. */
export function expectStatus(response: ApiResponse, status: number): void {
  expect(response.status, response.text).toBe(status);
}

/** Creates a root key in the test workspace through the API and returns its plaintext and id. */
export async function createRootKey(
  t: TestApp,
  permissions: string[],
  options: { ownerId?: string; token?: string; name?: string } = {},
): Promise<{ key: string; id: string }> {
  const response = await t.call("POST", "/v1/root-keys", {
    body: { name: options.name ?? "test", permissions, ownerId: options.ownerId },
    token: options.token,
  });
  if (response.status !== 201) throw new Error(`root key create failed: ${response.status} ${response.text}`);
  return { key: response.body.key, id: response.body.id };
}

/** Creates another workspace through the admin route; returns it and its "*" root key. */
export async function createWorkspace(t: TestApp, name = "other"): Promise<{ id: string; rootKey: string }> {
  const response = await t.call("POST", "/v1/admin/workspaces", { body: { name }, token: ADMIN_TOKEN });
  if (response.status !== 201)
    throw new Error(`workspace create failed: ${response.status} ${response.text}`);
  return { id: response.body.workspace.id, rootKey: response.body.rootKey.key };
}

/** A prefix no other test uses. */
export function uniquePrefix(): string {
  return `t${Math.random().toString(36).slice(2, 10)}`;
}
