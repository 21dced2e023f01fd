// Invariants that stay on in production: a broken invariant stops the node loudly instead of
// letting it corrupt replicated state (TigerBeetle's way).

export class InvariantError extends Error {
  override name = 'InvariantError';
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new InvariantError(typeof message === 'function' ? message() : message);
  }
}

export function unreachable(value: never, what: string): never {
  throw new InvariantError(`unreachable: unexpected ${what} ${JSON.stringify(value)}`);
}
