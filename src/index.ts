import { createApp } from "./app.js";
import { ConfigError, loadConfig } from "./config.js";
import { openConfiguredDatabaseToServe } from "./db/open-configured.js";
import { createDeps } from "./deps.js";
import { createLogger, wantsPrettyLogs } from "./observability/logger.js";
import { connectionsAtShutdown } from "./server/connections-at-shutdown.js";
import { createHttpServer, listen } from "./server/http-server.js";
import { bootstrapIfEmpty } from "./services/workspaces.js";

const USAGE_FLUSH_INTERVAL_MS = 2_000;
const SHUTDOWN_DEADLINE_MS = 8_000;
const HARD_EXIT_MS = 9_500;

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({
    level: config.LOG_LEVEL,
    pretty: wantsPrettyLogs(process.stdout, process.env),
  });
  const { db, lock } = openConfiguredDatabaseToServe(config.KEYMINT_DB);
  const deps = await createDeps({ db, config, logger });

  deps.usage.start(USAGE_FLUSH_INTERVAL_MS, (error) => logger.error({ err: error }, "usage flush failed"));
  const app = createApp(deps);
  const server = createHttpServer(app, deps, config.HOST);

  const connections = connectionsAtShutdown(server);
  let stopping = false;

  // Listen before the bootstrap: a start that cannot listen would otherwise create and print the one
  // root key and die, and the next start, on a database no longer empty, would show none. The bootstrap's
  // SQLite calls are synchronous, so it is done before the event loop accepts the first connection.
  await listen(server, config.PORT, config.HOST);
  const bootstrap = await bootstrapIfEmpty(deps);
  if (bootstrap) {
    // The one time a key is printed: the operator has no other way to get the first root key.
    process.stdout.write(
      `\nKeyMint created workspace "default" (${bootstrap.workspace.id}) and a root key with every permission.\n` +
        `It is shown only this once; store it now:\n\n  ${bootstrap.rootKey.key}\n\n`,
    );
  }
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.PORT;
  logger.info({ port, host: config.HOST, db: config.KEYMINT_DB }, "KeyMint listening");

  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: finishing in-flight requests");
    connections.start();
    const deadline = setTimeout(() => {
      logger.warn("in-flight requests did not finish in time; closing their connections");
      // Their argon2 work too: waiting, it would hold the exit until all of it had run.
      deps.argon2.stop();
      connections.closeAll();
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    // The last resort if flushing or closing hangs: never outlive the 10 s a supervisor gives us.
    setTimeout(() => process.exit(1), HARD_EXIT_MS).unref();
    // close() stops accepting and waits for in-flight requests; idle keep-alive sockets would hold it open.
    server.close(async () => {
      clearTimeout(deadline);
      // Every connection is closed, but a request whose client hung up may still be hashing: its
      // result would meet a closed database.
      deps.argon2.stop();
      try {
        deps.requestLog.flush();
        await deps.usage.stop();
        db.$client.close();
        lock.release();
        logger.info("stopped");
      } catch (error) {
        process.exitCode = 1;
        logger.error({ err: error }, "error during shutdown");
      }
      // No process.exit(): the process ends when its event loop is empty, after pino's last
      // asynchronous write. process.exit() flushes stdout synchronously, which spins forever on a
      // broken pipe (a supervisor that stopped reading).
    });
    server.closeIdleConnections();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
  } else {
    process.stderr.write(
      `KeyMint failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
    );
  }
  process.exit(1);
});
