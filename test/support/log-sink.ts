import { Writable } from "node:stream";

/**
 * A stream to give a logger in place of stdout: every line written to it lands in `lines`, and each
 * write as it came in `writes` (for tests that count writes).
 */
export function logSink() {
  const lines: string[] = [];
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      const text = String(chunk);
      writes.push(text);
      lines.push(...text.split("\n").filter(Boolean));
      done();
    },
  });
  return { stream, lines, writes };
}
