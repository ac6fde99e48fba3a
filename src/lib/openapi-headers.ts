/** The parts of an OpenAPI 3.1 document this module reads and adds to. */
interface Document {
  paths?: Record<
    string,
    Record<string, { responses?: Record<string, { headers?: Record<string, unknown> }> }>
  >;
  components?: { headers?: Record<string, unknown> };
}

const HEADERS = {
  RequestId: {
    description:
      "The request's id: the client's own x-request-id when it sent a sane one (at most 128 characters of " +
      "[A-Za-z0-9._:-], holding no SHA-256 digest in hex or deployment token), else a fresh UUID. Also in " +
      "problem bodies, audit events and the log line.",
    schema: { type: "string" },
  },
  RetryAfter: {
    description: "Seconds to wait before trying again.",
    schema: { type: "integer", minimum: 1 },
  },
};

/**
 * The statuses KeyMint sends Retry-After with: the auth throttle (429), and 503 (a busy database, a
 * shutdown, an argon2 backlog; /readyz's 503, a probe's answer, has none).
 */
const RETRY_STATUSES = new Set(["429", "503"]);

/**
 * Declares on every response of the document the headers KeyMint sends with it: x-request-id on all
 * (contract: "every response carries an x-request-id header"), Retry-After on 429 and 503. Done once
 * over the generated document rather than in each of the routes' response declarations.
 */
export function withAnswerHeaders<T extends object>(generated: T): T {
  // The generator's types are zod-to-openapi's; this reads only the few fields Document names.
  const document = generated as Document;
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        response.headers = {
          ...response.headers,
          "x-request-id": { $ref: "#/components/headers/RequestId" },
          ...(RETRY_STATUSES.has(status) && { "retry-after": { $ref: "#/components/headers/RetryAfter" } }),
        };
      }
    }
  }
  document.components = { ...document.components, headers: { ...document.components?.headers, ...HEADERS } };
  return generated;
}
