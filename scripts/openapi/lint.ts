import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { openApiDocument } from "./dump.js";

/*
 * The OpenAPI quality gate (npm run lint:openapi):
 *   1. dump the document the app serves at /openapi.json,
 *   2. redocly lint --extends=recommended: no errors allowed,
 *   3. openapi-typescript turns it into client types,
 *   4. consumer.ts, a client written against those types, must type-check.
 */

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const bin = (pkg: string, path: string) => join(dirname(require.resolve(`${pkg}/package.json`)), path);

function step(title: string, command: string, args: string[]): void {
  process.stdout.write(`\n== ${title}\n`);
  // No telemetry, no update check: the gate must run the same on a machine without internet access.
  const env = { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" };
  execFileSync(process.execPath, [command, ...args], { stdio: "inherit", env });
}

const work = mkdtempSync(join(tmpdir(), "keymint-openapi-"));
try {
  const document = join(work, "openapi.json");
  writeFileSync(document, `${JSON.stringify(await openApiDocument(), null, 2)}\n`);
  step("redocly lint --extends=recommended", bin("@redocly/cli", "bin/cli.js"), [
    "lint",
    "--extends=recommended",
    "--format=stylish",
    document,
  ]);
  step("openapi-typescript", bin("openapi-typescript", "bin/cli.js"), [
    document,
    "--output",
    join(work, "keymint-api.d.ts"),
  ]);
  copyFileSync(join(here, "consumer.ts"), join(work, "consumer.ts"));
  step("tsc on a client of the generated types", bin("typescript", "bin/tsc"), [
    "--noEmit",
    "--strict",
    "--exactOptionalPropertyTypes",
    "--target",
    "ES2022",
    "--module",
    "ESNext",
    "--moduleResolution",
    "Bundler",
    join(work, "consumer.ts"),
  ]);
  process.stdout.write("\nOpenAPI gate passed.\n");
} catch (error) {
  process.stderr.write(`\nOpenAPI gate failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
