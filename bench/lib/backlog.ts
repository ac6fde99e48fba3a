/** What a burst of simultaneous argon2id creates got: how many were let in and how many refused, and when. */
export interface BacklogOutcome {
  sent: number;
  /** 201s, and when the last one came (ms after the burst was sent). */
  created: number;
  createdLastMs: number;
  /** 503s (the argon2 backlog's refusals), when the last one came, and the Retry-After they gave. */
  refused: number;
  refusedLastMs: number;
  retryAfterSeconds: { min: number; max: number } | null;
  /** Anything else: a failure of the run. */
  other: number;
}

/**
 * Sends `count` argon2id creates at once, each on a connection of its own: more hashing than the
 * server lets wait (KEYMINT_ARGON2_MAX_WAIT_MS, 5 s by default), so that some are refused.
 */
export async function argon2CreateBurst(
  url: string,
  headers: Record<string, string>,
  keyspaceId: string,
  count: number,
): Promise<BacklogOutcome> {
  const sentAt = performance.now();
  const answers = await Promise.all(
    Array.from({ length: count }, async () => {
      const response = await fetch(`${url}/v1/keys`, {
        method: "POST",
        headers: { ...headers, connection: "close" },
        body: JSON.stringify({ keyspaceId }),
      });
      await response.arrayBuffer();
      return {
        status: response.status,
        ms: performance.now() - sentAt,
        retryAfter: Number(response.headers.get("retry-after")),
      };
    }),
  );
  const created = answers.filter((answer) => answer.status === 201);
  const refused = answers.filter((answer) => answer.status === 503);
  const retryAfters = refused.map((answer) => answer.retryAfter);
  return {
    sent: count,
    created: created.length,
    createdLastMs: Math.max(0, ...created.map((answer) => answer.ms)),
    refused: refused.length,
    refusedLastMs: Math.max(0, ...refused.map((answer) => answer.ms)),
    retryAfterSeconds: refused.length
      ? { min: Math.min(...retryAfters), max: Math.max(...retryAfters) }
      : null,
    other: count - created.length - refused.length,
  };
}

export function describeBacklog(outcome: BacklogOutcome): string {
  const retry = outcome.retryAfterSeconds;
  return (
    `argon2id backlog: ${outcome.sent.toLocaleString("en-US")} simultaneous creates → ${outcome.created} let in ` +
    `(the last answered at ${(outcome.createdLastMs / 1000).toFixed(1)} s), ${outcome.refused} refused 503 ` +
    `(the last at ${(outcome.refusedLastMs / 1000).toFixed(1)} s${retry ? `, Retry-After ${retry.min}–${retry.max} s` : ""})` +
    (outcome.other ? `, ${outcome.other} other answers` : "")
  );
}
