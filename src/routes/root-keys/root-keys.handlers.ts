import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../context.js";
import type { AppDeps } from "../../deps.js";
import { toRootKeyJson } from "../../lib/serialize.js";
import { createRootKey, listRootKeys, revokeRootKey } from "../../services/root-keys.js";
import { serviceContext } from "../service-context.js";
import type { createRootKeyRoute, listRootKeysRoute, revokeRootKeyRoute } from "./root-keys.routes.js";

export function rootKeyHandlers(deps: AppDeps) {
  const create: RouteHandler<typeof createRootKeyRoute, AppEnv> = async (c) => {
    const { key, row } = await createRootKey(deps, serviceContext(c), c.req.valid("json"));
    return c.json({ key, ...toRootKeyJson(row) }, 201);
  };

  const list: RouteHandler<typeof listRootKeysRoute, AppEnv> = async (c) => {
    return c.json({ data: (await listRootKeys(deps, c.get("caller"))).map(toRootKeyJson) }, 200);
  };

  const revoke: RouteHandler<typeof revokeRootKeyRoute, AppEnv> = async (c) => {
    return c.json(toRootKeyJson(await revokeRootKey(deps, serviceContext(c), c.req.valid("param").id)), 200);
  };

  return { create, list, revoke };
}
