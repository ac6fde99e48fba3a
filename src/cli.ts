import { parseArgs } from "node:util";
import { PERMISSIONS, type PermissionGrant } from "./auth/permissions.js";
import { ConfigError, loadConfig } from "./config.js";
import { backupDatabase } from "./db/backup.js";
import { type Db, openDatabase } from "./db/client.js";
import { migrateDatabase } from "./db/migrate.js";
import { createDeps } from "./deps.js";
import { ApiError } from "./lib/errors.js";
import { toRootKeyJson, toWorkspaceJson } from "./lib/serialize.js";
import { createLogger } from "./observability/logger.js";
import { Name, OwnerId } from "./routes/schemas.js";
import type { Origin } from "./services/audit.js";
import { createRootKeyAsSystem } from "./services/root-keys.js";
import { createWorkspace } from "./services/workspaces.js";

const USAGE = `Usage: keymint <command>

Commands:
  migrate                                   Apply database migrations
  workspace create <name> [--json]          Create a workspace and its "*" root key
  root-key create --workspace <id> [--name <name>] [--permissions a,b] [--owner-id <id>] [--json]
                                            Create a root key (default permissions: *)
  backup <file>                             Copy the database to <file> (safe while the server runs)

The database is KEYMINT_DB (default ./data/keymint.db).`;

const CLI_ORIGIN: Origin = { actorType: "system", actorId: null, requestId: "cli", ip: null };

class UsageError extends Error {}

function print(json: boolean, value: unknown, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${human}\n`);
}

/** Checks an argument against the schema the API validates the same field with. */
function checked(what: string, schema: typeof Name | typeof OwnerId, value: string): string {
  const result = schema.safeParse(value);
  if (!result.success)
    throw new UsageError(`${what}: ${result.error.issues.map((i) => i.message).join("; ")}`);
  return result.data;
}

function parsePermissions(list: string | undefined): PermissionGrant[] {
  if (list === undefined) return ["*"];
  const allowed = new Set<string>(["*", ...PERMISSIONS]);
  const permissions = list
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  const unknown = permissions.filter((p) => !allowed.has(p));
  if (permissions.length === 0 || unknown.length > 0) {
    throw new UsageError(`--permissions takes a comma-separated list of: ${[...allowed].join(", ")}`);
  }
  return permissions as PermissionGrant[];
}

function parseArguments(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: "boolean", default: false },
        workspace: { type: "string" },
        name: { type: "string" },
        permissions: { type: "string" },
        "owner-id": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    // An unknown option or a missing value is a usage error like any other.
    throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  }
}

async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parseArguments(argv);
  const [command, sub, argument] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const config = loadConfig();
  const db: Db = openDatabase(config.KEYMINT_DB);
  try {
    migrateDatabase(db);
    const deps = await createDeps({ db, config, logger: createLogger({ level: "silent" }) });
    if (command === "migrate" && sub === undefined) {
      print(values.json, { migrated: true, database: config.KEYMINT_DB }, `Migrated ${config.KEYMINT_DB}`);
    } else if (command === "workspace" && sub === "create" && argument !== undefined) {
      const name = checked("workspace name", Name, argument);
      const { workspace, rootKey } = await createWorkspace(deps, CLI_ORIGIN, name);
      print(
        values.json,
        {
          workspace: toWorkspaceJson(workspace),
          rootKey: { key: rootKey.key, ...toRootKeyJson(rootKey.row) },
        },
        `Created workspace ${workspace.name} (${workspace.id}).\nRoot key (shown once, store it now):\n  ${rootKey.key}`,
      );
    } else if (command === "root-key" && sub === "create" && values.workspace !== undefined) {
      const { key, row } = await createRootKeyAsSystem(deps, CLI_ORIGIN, values.workspace, {
        name: checked("--name", Name, values.name ?? "cli"),
        permissions: parsePermissions(values.permissions),
        ownerId:
          values["owner-id"] === undefined ? undefined : checked("--owner-id", OwnerId, values["owner-id"]),
      });
      print(
        values.json,
        { key, ...toRootKeyJson(row) },
        `Created root key ${row.id} (${row.permissions.join(",")}) in ${row.workspaceId}.\nShown once, store it now:\n  ${key}`,
      );
    } else if (command === "backup" && sub !== undefined) {
      const pages = await backupDatabase(db, sub);
      print(values.json, { backup: sub, pages }, `Backed up ${config.KEYMINT_DB} to ${sub} (${pages} pages)`);
    } else {
      throw new UsageError(USAGE);
    }
  } finally {
    db.$client.close();
  }
}

run(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError || error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  const message =
    error instanceof ApiError
      ? `${error.detail}${error.errors ? ` ${error.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}` : ""}`
      : error instanceof Error
        ? error.message
        : String(error);
  process.stderr.write(`keymint: ${message}\n`);
  process.exit(1);
});
