// The one registry of error codes (fastify's lib/errors.js way). Every error a client can see
// has a stable code, an HTTP status and a default message here, and a line in docs/errors.md
// (a test keeps the two in step).

export const errorCodes = {
  BAD_REQUEST: { status: 400, message: 'The request is malformed' },
  INVALID_KEY: { status: 400, message: 'The key is empty, too long or not valid UTF-8' },
  VALUE_TOO_LARGE: { status: 413, message: 'The value is larger than the limit' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body is larger than the limit' },
  INVALID_REVISION: { status: 400, message: 'ifRevision must be a non-negative integer' },
  INVALID_ARGUMENT: { status: 400, message: 'A parameter has a value outside its allowed range' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send application/json or application/msgpack' },
  KEY_NOT_FOUND: { status: 404, message: 'The key does not exist' },
  NOT_FOUND: { status: 404, message: 'No such route' },
  REVISION_MISMATCH: { status: 409, message: 'The key changed since the given revision' },
  NOT_LEADER: { status: 421, message: 'This node is not the leader and forwarding was not asked for' },
  NO_LEADER: { status: 503, message: 'No leader is known; retry later' },
  NO_QUORUM: { status: 503, message: 'The leader cannot reach a quorum; retry later' },
  OUTCOME_UNKNOWN: {
    status: 504,
    message: 'The write may or may not have been applied; retry with the same Idempotency-Key',
  },
  READ_TIMEOUT: { status: 503, message: 'The read could not be confirmed in time; nothing was changed' },
  OVERLOADED: { status: 429, message: 'Too many requests from this client; retry later' },
  BUSY: { status: 503, message: 'The node has too much pending work; retry later' },
  SHUTTING_DOWN: { status: 503, message: 'The node is shutting down' },
  FORBIDDEN: { status: 403, message: 'Admin routes need the admin token or a loopback client' },
  UNAUTHORIZED: { status: 401, message: 'The request lacks valid credentials' },
  CLUSTER_MISMATCH: { status: 403, message: 'The peer belongs to another cluster' },
  FAULT_INJECTION_DISABLED: {
    status: 403,
    message: 'Fault injection is off: start the node with --enable-fault-injection',
  },
  INTERNAL: { status: 500, message: 'Internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCodes;

export class RaftkvError extends Error {
  override name = 'RaftkvError';
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message ?? errorCodes[code].message);
    this.status = errorCodes[code].status;
  }

  toJSON(): { error: Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...this.details } };
  }
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(errorCodes, value);
}
