// The read levels of design.md §5, one query parameter on every read route.
import type { FastifyReply } from 'fastify';
import { RaftkvError } from '../errors.js';
import type { RaftNode } from '../node/node.js';

export type Consistency = 'linearizable' | 'lease' | 'stale';
const levels: readonly string[] = ['linearizable', 'lease', 'stale'];

export function parseConsistency(value: unknown): Consistency {
  if (value === undefined) return 'linearizable';
  if (typeof value === 'string' && levels.includes(value)) return value as Consistency;
  throw new RaftkvError('INVALID_ARGUMENT', `consistency must be one of ${levels.join(', ')}`);
}

/** Waits until a read at `level` may be served from local state; sets the headers that say so. */
export async function prepareRead(node: RaftNode, level: Consistency, reply: FastifyReply): Promise<void> {
  const index =
    level === 'stale'
      ? node.status().appliedIndex
      : await node.read(level === 'lease' ? 'lease' : 'readIndex');
  reply.header('x-consistency', level);
  reply.header('x-raft-index', String(index));
}
