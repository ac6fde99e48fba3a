import { writeFileSync } from "node:fs";
import { createApp } from "../../src/app.js";
import { openDatabase } from "../../src/db/client.js";
import { migrateDatabase } from "../../src/db/migrate.js";
import { createDeps } from "../../src/deps.js";
import { createLogger } from "../../src/observability/logger.js";

/** The OpenAPI document exactly as GET /openapi.json serves it, from an app on an in-memory database. */
export async function openApiDocument(): Promise<unknown> {
  const db = openDatabase(":memory:");
  try {
    migrateDatabase(db);
    const deps = await createDeps({ db, logger: createLogger({ level: "silent" }) });
    const response = await createApp(deps).request("/openapi.json");
    if (response.status !== 200) throw new Error(`GET /openapi.json answered ${response.status}`);
    return await response.json();
  } finally {
    db.$client.close();
  }
}

// Usage: tsx scripts/openapi/dump.ts [file]  (stdout without a file)
if (import.meta.url === `file://${process.argv[1]}`) {
  const json = `${JSON.stringify(await openApiDocument(), null, 2)}\n`;
  const file = process.argv[2];
  if (file === undefined) process.stdout.write(json);
  else writeFileSync(file, json);
}
