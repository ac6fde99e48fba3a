import { eq } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { settings } from "../db/schema.js";

export function createSettingsRepo(db: Db) {
  return {
    /** Returns the stored value, storing `create()` first if there is none (atomic: first writer wins). */
    async getOrCreate(name: string, create: () => string): Promise<string> {
      db.insert(settings).values({ name, value: create() }).onConflictDoNothing().run();
      const row = db.select().from(settings).where(eq(settings.name, name)).get();
      if (!row) throw new Error(`setting ${name} could not be stored`);
      return row.value;
    },
  };
}

export type SettingsRepo = ReturnType<typeof createSettingsRepo>;
