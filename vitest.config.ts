import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // argon2id hashes (19 MiB, t=2) and child-process tests need more than the 5 s default.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
