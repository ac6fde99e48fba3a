import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../context.js";
import type { AppDeps } from "../../deps.js";
import { toKeyJson } from "../../lib/serialize.js";
import { keyUsage } from "../../services/key-usage.js";
import { createKey, deleteKey, getKey, listKeys, revokeKey, updateKey } from "../../services/keys.js";
import { rotateKey } from "../../services/rotate-key.js";
import { verifyAndCount } from "../../services/verify-and-count.js";
import { serviceContext } from "../service-context.js";
import type {
  createKeyRoute,
  deleteKeyRoute,
  getKeyRoute,
  keyUsageRoute,
  listKeysRoute,
  revokeKeyRoute,
  rotateKeyRoute,
  updateKeyRoute,
  verifyKeyRoute,
} from "./keys.routes.js";

export function keyHandlers(deps: AppDeps) {
  const create: RouteHandler<typeof createKeyRoute, AppEnv> = async (c) => {
    const { key, row } = await createKey(deps, serviceContext(c), c.req.valid("json"));
    return c.json({ key, ...toKeyJson(row, deps.clock.now()) }, 201);
  };

  const list: RouteHandler<typeof listKeysRoute, AppEnv> = async (c) => {
    const { rows, nextCursor } = await listKeys(deps, c.get("caller"), c.req.valid("query"));
    const now = deps.clock.now();
    return c.json({ data: rows.map((row) => toKeyJson(row, now)), nextCursor }, 200);
  };

  const get: RouteHandler<typeof getKeyRoute, AppEnv> = async (c) => {
    const row = await getKey(deps, c.get("caller"), c.req.valid("param").id);
    return c.json(toKeyJson(row, deps.clock.now()), 200);
  };

  const update: RouteHandler<typeof updateKeyRoute, AppEnv> = async (c) => {
    const row = await updateKey(deps, serviceContext(c), c.req.valid("param").id, c.req.valid("json"));
    return c.json(toKeyJson(row, deps.clock.now()), 200);
  };

  const rotate: RouteHandler<typeof rotateKeyRoute, AppEnv> = async (c) => {
    const grace = c.req.valid("json").gracePeriodSeconds ?? 0;
    const { key, row } = await rotateKey(deps, serviceContext(c), c.req.valid("param").id, grace);
    return c.json({ key, ...toKeyJson(row, deps.clock.now()) }, 201);
  };

  const revoke: RouteHandler<typeof revokeKeyRoute, AppEnv> = async (c) => {
    const reason = c.req.valid("json").reason ?? null;
    const row = await revokeKey(deps, serviceContext(c), c.req.valid("param").id, reason);
    return c.json(toKeyJson(row, deps.clock.now()), 200);
  };

  const remove: RouteHandler<typeof deleteKeyRoute, AppEnv> = async (c) => {
    await deleteKey(deps, serviceContext(c), c.req.valid("param").id);
    return c.body(null, 204);
  };

  const verify: RouteHandler<typeof verifyKeyRoute, AppEnv> = async (c) => {
    const caller = c.get("caller");
    return c.json(await verifyAndCount(deps, caller, c.req.valid("json")), 200);
  };

  const usage: RouteHandler<typeof keyUsageRoute, AppEnv> = async (c) => {
    const data = await keyUsage(deps, c.get("caller"), c.req.valid("param").id, c.req.valid("query"));
    return c.json({ data }, 200);
  };

  return { create, list, get, update, rotate, revoke, remove, verify, usage };
}
