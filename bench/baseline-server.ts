import { serve } from "@hono/node-server";
import { Hono } from "hono";

/*
 * The framework's ceiling: a bare Hono route on @hono/node-server doing the least a verify endpoint
 * can do: read the Bearer header, parse the same JSON body, answer a JSON object of the same size as
 * a VALID verify response. No validation, no auth, no logging, no metrics.
 *
 * BASELINE_RESPONSE holds the JSON of a real VALID verify response (the harness captures one).
 */

const port = Number(process.env.PORT ?? 3100);
const hostname = process.env.HOST ?? "127.0.0.1";
const response: unknown = JSON.parse(process.env.BASELINE_RESPONSE ?? '{"valid":true,"code":"VALID"}');

const app = new Hono();

app.get("/healthz", (c) => c.json({ status: "ok" }));

app.post("/v1/keys/verify", async (c) => {
  const header = c.req.header("authorization");
  if (header === undefined || !header.startsWith("Bearer ")) return c.json({ error: "unauthorized" }, 401);
  const body = await c.req.json<{ key?: unknown }>();
  if (typeof body.key !== "string") return c.json({ error: "bad request" }, 400);
  return c.json(response, 200);
});

serve({ fetch: app.fetch, port, hostname });

// Exit through process.exit, so that `node --cpu-prof` writes its profile.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(0));
