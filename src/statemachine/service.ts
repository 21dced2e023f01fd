// The one interface every service implements, built-in or a user's (design.md §4). A service
// owns a namespace of the state, a set of command kinds, their validation and their deterministic
// apply; the state machine decodes entries, routes each command to its service and commits the
// writes. Snapshots work on namespaces (each service's key range), and routes come with the HTTP
// layer as fastify plugins; neither needs more from a service than this.
import type { Command } from './commands.js';
import type { StateView } from './state-store.js';

/** All a command's apply may see: no clock, no randomness, no other I/O. */
export interface ApplyContext {
  /** The index of the entry being applied: unique and increasing (revisions, fencing tokens). */
  index: number;
  /** The entry's log time in ms (design.md §3): the only "now" apply may use. */
  stampMs: number;
  /** The service's namespace of the state, with this command's own writes visible. */
  state: StateView;
}

export interface Service<C extends Command = Command> {
  readonly name: string;
  /** Version of the format of the service's state, bumped when it changes; snapshots carry it. */
  readonly version: number;
  /** The key prefix of the service's state; no service's namespace may start another's. */
  readonly namespace: string;
  readonly commandKinds: readonly C['kind'][];
  /**
   * Throws a RaftkvError when a command breaks a limit. The HTTP layer calls it before proposing,
   * and apply calls it again, since an entry in the log may come from a node of another build.
   */
  validate(command: C): void;
  /**
   * Applies a valid command and returns its result (plain data: it may be stored and replayed).
   * Throwing a RaftkvError rejects the command and discards its writes; any other error is a bug
   * and stops the node. Must be deterministic: same state, command and context, same writes and
   * result on every node. A service that reads only with get() answers at once; one that
   * iterates returns a promise (the state machine waits for it before the next command).
   */
  apply(command: C, context: ApplyContext): unknown;
  /** The keys (in the service's namespace) a command may write: quorum reads track them (§5). */
  keysTouched(command: C): string[];
}

/** A service's key as the state store holds it: qualified by the service's namespace. */
export function qualifiedKey(service: Service, key: string): string {
  return service.namespace + key;
}
