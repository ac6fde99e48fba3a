import { describe, expect, it } from "vitest";
import { scrubSecrets } from "../../src/observability/logger.js";

// §8: no log line ever holds a hash, whatever argon2 variant produced it.
describe("scrubSecrets removes every argon2 PHC hash", () => {
  it.each(["argon2id", "argon2i", "argon2d"])("%s", (variant) => {
    const hash = `$${variant}$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA`;
    expect(scrubSecrets(`stored ${hash} here`)).toBe("stored [redacted hash] here");
  });
});
