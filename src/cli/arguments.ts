import { type ParseArgsConfig, parseArgs } from "node:util";
import { PERMISSIONS, type PermissionGrant } from "../auth/permissions.js";
import { Name, OwnerId } from "../routes/schemas.js";

export const USAGE = `Usage: keymint <command>

Commands:
  migrate [--json]                          Apply database migrations
  workspace create <name> [--json]          Create a workspace and its "*" root key
  root-key create --workspace <id> [--name <name>] [--permissions a,b] [--owner-id <id>] [--json]
                                            Create a root key (default permissions: *; "" for none)
  backup <file> [--json]                    Copy the database to <file> (safe while the server runs)
  -h, --help                                Show this help

The database is KEYMINT_DB (default ./data/keymint.db).`;

/** A command line the CLI cannot run: reported with the usage text, exit code 2. */
export class UsageError extends Error {}

const OPTIONS = {
  json: { type: "boolean" },
  workspace: { type: "string" },
  name: { type: "string" },
  permissions: { type: "string" },
  "owner-id": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

type OptionName = keyof typeof OPTIONS;

/** Each command's positional arguments (after its own words) and the options it takes; nothing else is accepted. */
const COMMANDS = {
  migrate: { args: [], options: ["json"] },
  "workspace create": { args: ["<name>"], options: ["json"] },
  "root-key create": { args: [], options: ["workspace", "name", "permissions", "owner-id", "json"] },
  backup: { args: ["<file>"], options: ["json"] },
} as const satisfies Record<string, { args: readonly string[]; options: readonly OptionName[] }>;

type CommandName = keyof typeof COMMANDS;

export type Invocation =
  | { command: "help" }
  | { command: "migrate"; json: boolean }
  | { command: "workspace create"; json: boolean; name: string }
  | {
      command: "root-key create";
      json: boolean;
      workspaceId: string;
      name: string;
      permissions: PermissionGrant[];
      ownerId: string | undefined;
    }
  | { command: "backup"; json: boolean; file: string };

/**
 * Turns argv into one command with checked arguments, before anything opens the database: a usage
 * error must leave it untouched.
 */
export function parseCommandLine(argv: string[]): Invocation {
  const { values, positionals, tokens } = parseStrict(argv);
  if (values.help) return { command: "help" };

  const command = findCommand(positionals);
  const spec = COMMANDS[command];
  const args = positionals.slice(command.split(" ").length);
  const extra = args[spec.args.length];
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}' for '${command}'`);
  const missing = spec.args[args.length];
  if (missing !== undefined) throw new UsageError(`'${command}' needs ${missing}`);

  const allowed: readonly string[] = spec.options;
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    if (!allowed.includes(token.name))
      throw new UsageError(`option '${token.rawName}' does not apply to '${command}'`);
    if (seen.has(token.name)) throw new UsageError(`option '${token.rawName}' is given more than once`);
    seen.add(token.name);
  }

  const json = values.json === true;
  const [argument = ""] = args;
  switch (command) {
    case "migrate":
      return { command, json };
    case "workspace create":
      return { command, json, name: checked("workspace name", Name, argument) };
    case "root-key create":
      if (values.workspace === undefined) throw new UsageError(`'${command}' needs --workspace <id>`);
      return {
        command,
        json,
        workspaceId: values.workspace,
        name: checked("--name", Name, values.name ?? "cli"),
        permissions: parsePermissions(values.permissions),
        ownerId:
          values["owner-id"] === undefined ? undefined : checked("--owner-id", OwnerId, values["owner-id"]),
      };
    case "backup":
      return { command, json, file: argument };
  }
}

function parseStrict(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, tokens: true, options: OPTIONS });
  } catch (error) {
    // An unknown option or a missing value is a usage error like any other.
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** The command named by the leading positionals: one word, or a group and its subcommand. */
function findCommand(positionals: string[]): CommandName {
  const [first, second] = positionals;
  if (first === undefined) throw new UsageError("no command given");
  const names = Object.keys(COMMANDS) as CommandName[];
  const match = names.find((name) => name.split(" ").every((word, i) => positionals[i] === word));
  if (match !== undefined) return match;
  const subcommands = names.filter((name) => name.startsWith(`${first} `));
  if (subcommands.length === 0) throw new UsageError(`unknown command '${first}'`);
  if (second === undefined) throw new UsageError(`'${first}' needs a subcommand`);
  throw new UsageError(`unknown command '${first} ${second}'`);
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
  // "" is the empty list, which the API takes too (any subset, §2); "," names nothing and is a mistake.
  if ((permissions.length === 0 && list.trim() !== "") || unknown.length > 0) {
    throw new UsageError(`--permissions takes a comma-separated list of: ${[...allowed].join(", ")}`);
  }
  return permissions as PermissionGrant[];
}
