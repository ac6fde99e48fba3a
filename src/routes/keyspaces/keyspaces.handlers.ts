import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../context.js";
import type { AppDeps } from "../../deps.js";
import { toKeyspaceJson } from "../../lib/serialize.js";
import { createKeyspace, getKeyspace, listKeyspaces, updateKeyspace } from "../../services/keyspaces.js";
import { serviceContext } from "../service-context.js";
import type {
  createKeyspaceRoute,
  getKeyspaceRoute,
  listKeyspacesRoute,
  updateKeyspaceRoute,
} from "./keyspaces.routes.js";

export function keyspaceHandlers(deps: AppDeps) {
  const create: RouteHandler<typeof createKeyspaceRoute, AppEnv> = async (c) => {
    const row = await createKeyspace(deps, serviceContext(c), c.req.valid("json"));
    return c.json(toKeyspaceJson(row), 201);
  };

  const list: RouteHandler<typeof listKeyspacesRoute, AppEnv> = async (c) => {
    const rows = await listKeyspaces(deps, c.get("caller"));
    return c.json({ data: rows.map(toKeyspaceJson) }, 200);
  };

  const get: RouteHandler<typeof getKeyspaceRoute, AppEnv> = async (c) => {
    return c.json(toKeyspaceJson(await getKeyspace(deps, c.get("caller"), c.req.valid("param").id)), 200);
  };

  const update: RouteHandler<typeof updateKeyspaceRoute, AppEnv> = async (c) => {
    const row = await updateKeyspace(deps, serviceContext(c), c.req.valid("param").id, c.req.valid("json"));
    return c.json(toKeyspaceJson(row), 200);
  };

  return { create, list, get, update };
}
