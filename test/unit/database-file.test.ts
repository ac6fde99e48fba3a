import { chmodSync, statSync, writeFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client.js";
import { migrateDatabase } from "../../src/db/migrate.js";
import { tempDatabase } from "../support/server-process.js";

const modeOf = (file: string) => statSync(file).mode & 0o777;

describe("the database file", () => {
  let database: ReturnType<typeof tempDatabase>;
  beforeEach(() => {
    database = tempDatabase();
  });
  afterEach(() => database.remove());

  it("is created readable by its owner only, and so are its WAL and shared-memory files", () => {
    const db = openDatabase(database.file);
    migrateDatabase(db);
    expect(modeOf(database.file)).toBe(0o600);
    expect(modeOf(`${database.file}-wal`)).toBe(0o600);
    expect(modeOf(`${database.file}-shm`)).toBe(0o600);
    db.$client.close();
  });

  it("keeps the mode of a database file that exists already", () => {
    writeFileSync(database.file, "");
    chmodSync(database.file, 0o640);
    const db = openDatabase(database.file);
    migrateDatabase(db);
    expect(modeOf(database.file)).toBe(0o640);
    db.$client.close();
  });
});
