import { describe, expect, it } from "vitest";
import { errorAnswers } from "../../src/middleware/errors.js";
import { createLogger } from "../../src/observability/logger.js";
import { ADMIN_TOKEN } from "../helpers.js";
import { logSink } from "../support/log-sink.js";

class SqliteError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = "SqliteError";
  }
}

describe("a busy database (every SQLITE_BUSY code) is 503 UNAVAILABLE with Retry-After, not 500", () => {
  const logger = createLogger({ level: "info", destination: logSink().stream });
  const answer = errorAnswers({ config: { KEYMINT_ADMIN_TOKEN: ADMIN_TOKEN }, logger } as never);
  for (const code of ["SQLITE_BUSY", "SQLITE_BUSY_SNAPSHOT", "SQLITE_BUSY_RECOVERY", "SQLITE_BUSY_TIMEOUT"]) {
    it(code, () => {
      const result = answer(new SqliteError("database is locked", code), "req-busy");
      expect(result.status).toBe(503);
      expect(result.headers["retry-after"]).toBeDefined();
      expect(result.headers["content-type"]).toBe("application/problem+json");
      const body = JSON.parse(result.body);
      expect(body).toMatchObject({ status: 503, code: "UNAVAILABLE", requestId: "req-busy" });
    });
  }
});
