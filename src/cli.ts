import { type Invocation, parseCommandLine, USAGE, UsageError } from "./cli/arguments.js";
import { ConfigError, loadConfig } from "./config.js";
import { backupDatabase } from "./db/backup.js";
import { openConfiguredDatabase, openConfiguredDatabaseToRead } from "./db/open-configured.js";
import { type AppDeps, createDeps } from "./deps.js";
import { ApiError } from "./lib/errors.js";
import { toRootKeyJson, toWorkspaceJson } from "./lib/serialize.js";
import { configuredTokens, createLogger, holdsToken } from "./observability/logger.js";
import type { Origin } from "./services/audit.js";
import { createRootKeyAsSystem } from "./services/root-keys.js";
import { createWorkspace } from "./services/workspaces.js";

const CLI_ORIGIN: Origin = { actorType: "system", actorId: null, requestId: "cli", ip: null };

function print(json: boolean, value: unknown, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${human}\n`);
}

async function run(argv: string[]): Promise<void> {
  const invocation = parseCommandLine(argv);
  if (invocation.command === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const config = loadConfig();
  if (config.KEYMINT_DB === ":memory:") {
    // A workspace or root key made in a database gone when the command exits could never be used.
    throw new Error(
      "KEYMINT_DB=:memory: is a database of this command's own, gone when it exits; set KEYMINT_DB to the server's database file",
    );
  }
  refuseTokens(invocation, configuredTokens(config));
  if (invocation.command === "backup") return backup(invocation, config.KEYMINT_DB);
  const db = openConfiguredDatabase(config.KEYMINT_DB);
  try {
    const deps = await createDeps({ db, config, logger: createLogger({ level: "silent" }) });
    await execute(invocation, deps);
  } finally {
    db.$client.close();
  }
}

/**
 * A name or owner is shown on every read, so it may not hold this deployment's admin or metrics token,
 * as the API refuses one in a body it stores (lib/validation.ts). Checked once the settings are read,
 * before the database is opened: a usage error, as for the other argument checks.
 */
function refuseTokens(invocation: Invocation, tokens: readonly string[]): void {
  const texts: [string, string | undefined][] =
    invocation.command === "workspace create"
      ? [["workspace name", invocation.name]]
      : invocation.command === "root-key create"
        ? [
            ["--name", invocation.name],
            ["--owner-id", invocation.ownerId],
          ]
        : [];
  for (const [what, text] of texts) {
    if (text !== undefined && holdsToken(text, tokens))
      throw new UsageError(`${what}: must not hold this deployment's admin or metrics token`);
  }
}

async function execute(invocation: Exclude<Invocation, { command: "help" | "backup" }>, deps: AppDeps) {
  const { json } = invocation;
  const database = deps.config.KEYMINT_DB;
  switch (invocation.command) {
    case "migrate":
      print(json, { migrated: true, database }, `Migrated ${database}`);
      return;
    case "workspace create": {
      const { workspace, rootKey } = await createWorkspace(deps, CLI_ORIGIN, invocation.name);
      print(
        json,
        {
          workspace: toWorkspaceJson(workspace),
          rootKey: { key: rootKey.key, ...toRootKeyJson(rootKey.row) },
        },
        `Created workspace ${workspace.name} (${workspace.id}).\nRoot key (shown once, store it now):\n  ${rootKey.key}`,
      );
      return;
    }
    case "root-key create": {
      const { key, row } = await createRootKeyAsSystem(deps, CLI_ORIGIN, invocation.workspaceId, {
        name: invocation.name,
        permissions: invocation.permissions,
        ownerId: invocation.ownerId,
      });
      print(
        json,
        { key, ...toRootKeyJson(row) },
        `Created root key ${row.id} (${row.permissions.join(",")}) in ${row.workspaceId}.\nShown once, store it now:\n  ${key}`,
      );
      return;
    }
  }
}

/** Copies KEYMINT_DB, opened to read only: a backup never creates, migrates or changes its source. */
async function backup(
  invocation: Extract<Invocation, { command: "backup" }>,
  database: string,
): Promise<void> {
  const db = openConfiguredDatabaseToRead(database);
  try {
    const pages = await backupDatabase(db, invocation.file);
    print(
      invocation.json,
      { backup: invocation.file, pages },
      `Backed up ${database} to ${invocation.file} (${pages} pages)`,
    );
  } finally {
    db.$client.close();
  }
}

run(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`keymint: ${error.message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  if (error instanceof ConfigError) {
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
