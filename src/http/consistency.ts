// The read levels of design.md §5, one query parameter on every read route.
import type { FastifyReply } from 'fastify';
import { RaftkvError } from '../errors.js';
import type { RaftNode } from '../node/node.js';

export type Consistency = 'linearizable' | 'lease' | 'quorum' | 'stale';
const levels: readonly string[] = ['linearizable', 'lease', 'quorum', 'stale'];

export function parseConsistency(value: unknown): Consistency {
  if (value === undefined) return 'linearizable';
  if (typeof value === 'string' && levels.includes(value)) return value as Consistency;
  throw new RaftkvError('INVALID_ARGUMENT', `consistency must be one of ${levels.join(', ')}`);
}

/** The headers every read answer carries: the level that served it and the applied index it was served at. */
export function setReadHeaders(reply: FastifyReply, level: Consistency, index: number): void {
  reply.header('x-consistency', level);
  reply.header('x-raft-index', String(index));
}

/**
 * Waits until a read at `level` may be served from local state; sets the headers that say so.
 * Quorum reads ask other replicas for one key, so a route that reads local state refuses them.
 */
export async function prepareRead(node: RaftNode, level: Consistency, reply: FastifyReply): Promise<void> {
  if (level === 'quorum') {
    throw new RaftkvError(
      'INVALID_ARGUMENT',
      'consistency=quorum reads one key (GET /v1/kv/<key>); this route takes linearizable, lease or stale',
    );
  }
  if (level === 'stale') {
    const { appliedIndex, commitIndex } = node.status();
    setReadHeaders(reply, level, appliedIndex);
    // How far behind the answer may be: the commit index this node last heard from the leader.
    reply.header('x-raft-commit-index', String(commitIndex));
    return;
  }
  setReadHeaders(reply, level, await node.read(level === 'lease' ? 'lease' : 'readIndex'));
}
