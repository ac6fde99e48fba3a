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
    required: true,
  },
  RetryAfter: {
    description: "Seconds to wait before trying again.",
    schema: { type: "integer", minimum: 1 },
    required: true,
  },
  WWWAuthenticate: {
    description: "The scheme to authenticate with: Bearer (RFC 9110 §11.6.1).",
    schema: { type: "string", example: 'Bearer realm="keymint"' },
    required: true,
  },
};

/**
 * The headers KeyMint sends beside x-request-id, by status: the auth throttle and every 503 say when to
 * retry. The one sent only sometimes is written out rather than referenced: client generators
 * (openapi-typescript) type every referenced response header as always present, whatever its `required`.
 */
const HEADERS_BY_STATUS: Record<string, Record<string, object>> = {
  401: { "www-authenticate": { $ref: "#/components/headers/WWWAuthenticate" } },
  415: {
    "accept-encoding": {
      description: "Sent when the body had a Content-Encoding: bodies are read only as they are (identity).",
      schema: { type: "string", example: "identity" },
      required: false,
    },
  },
  429: { "retry-after": { $ref: "#/components/headers/RetryAfter" } },
  503: { "retry-after": { $ref: "#/components/headers/RetryAfter" } },
};

/**
 * Declares on every response of the document the headers KeyMint sends with it: x-request-id on all
 * (contract: "every response carries an x-request-id header"), and those HEADERS_BY_STATUS names. Done once
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
          ...HEADERS_BY_STATUS[status],
        };
      }
    }
  }
  document.components = { ...document.components, headers: { ...document.components?.headers, ...HEADERS } };
  return generated;
}
