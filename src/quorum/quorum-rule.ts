// The pure rules of quorum reads (design.md §5): how many replicas a read asks (R, against the
// Raft majority W), and what R replies allow it to answer (the Paxos Quorum Reads rule).
//
// Why R + W > N and the pending index make a read linearizable: a write acknowledged before the
// read began was appended on W voters, so at least one of any R replicas holds it, applied or
// pending. If it is applied, the freshest replica (highest applied index) has applied it too, the
// log being the same on every node up to what they applied. If it is only pending, the reply
// shows a pending index above the applied indices, and the read waits until some replica applies
// that far. A write appended nowhere among the R replies was not acknowledged when the read began,
// so it is concurrent with the read and may be missed.
import { assert } from '../assert.js';
import type { NodeId } from '../raft/messages.js';

/** What one replica knows of one key, read from its applied state (the peer route's answer). */
export interface ReplicaAnswer {
  /** The key's value; null when the key is absent. */
  value: unknown;
  /** 0 when the key is absent (as in compare-and-set). */
  createRevision: number;
  modRevision: number;
  version: number;
  /** The replica's applied index when it answered; its value is at least this fresh. */
  appliedIndex: number;
  /** The highest index appended on the replica, not yet applied, that touches the key; 0 if none. */
  pendingIndex: number;
}

export interface ReplicaReply {
  replicaId: NodeId;
  answer: ReplicaAnswer;
}

export type QuorumDecision =
  /** Every write the replies know of is applied at `reply`: answer its value. */
  | { kind: 'answer'; reply: ReplicaReply }
  /** A pending write lies beyond every applied index: ask again until a replica applied `index`. */
  | { kind: 'waitForApplied'; index: number };

export interface QuorumDecisionOptions {
  /** Planted bug (--test-skip-pqr-wait): pretend no write is pending. */
  ignorePendingWrites?: boolean;
}

/** The Raft majority of `voterCount` voters: W. */
export function writeQuorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/** The smallest R with R + W > N. */
export function defaultReadQuorumSize(voterCount: number): number {
  return voterCount - writeQuorumSize(voterCount) + 1;
}

export class ReadQuorumError extends Error {
  override name = 'ReadQuorumError';
}

/**
 * R for `voterCount` voters: `override` (--read-quorum) when given, else N - W + 1. Throws a
 * ReadQuorumError when R cannot be met (above N, below 1), or when R + W <= N (a read could miss
 * an acknowledged write) unless `allowWeak` (--unsafe-allow-weak-quorum).
 */
export function readQuorumSize(voterCount: number, override: number | undefined, allowWeak: boolean): number {
  const readQuorum = override ?? defaultReadQuorumSize(voterCount);
  if (!Number.isSafeInteger(readQuorum) || readQuorum < 1 || readQuorum > voterCount) {
    throw new ReadQuorumError(`--read-quorum ${readQuorum} must be from 1 to the ${voterCount} voters`);
  }
  const writeQuorum = writeQuorumSize(voterCount);
  if (readQuorum + writeQuorum <= voterCount && !allowWeak) {
    throw new ReadQuorumError(
      `--read-quorum ${readQuorum} with ${voterCount} voters: R + W = ${readQuorum} + ${writeQuorum} <= N = ` +
        `${voterCount}, so a quorum read could miss an acknowledged write. Use R >= ` +
        `${defaultReadQuorumSize(voterCount)}, or --unsafe-allow-weak-quorum to accept stale reads`,
    );
  }
  return readQuorum;
}

/**
 * The index every reply's knowledge reaches: the freshest applied index, or a pending index beyond
 * it. A read may answer only from a replica that has applied this far.
 */
export function readTargetIndex(
  replies: readonly ReplicaReply[],
  options: QuorumDecisionOptions = {},
): number {
  let target = 0;
  for (const { answer } of replies) {
    target = Math.max(target, answer.appliedIndex);
    if (!options.ignorePendingWrites) target = Math.max(target, answer.pendingIndex);
  }
  return target;
}

/** The reply with the highest applied index, if it has applied at least `index`. */
export function freshestReplyAtLeast(
  replies: readonly ReplicaReply[],
  index: number,
): ReplicaReply | undefined {
  let freshest: ReplicaReply | undefined;
  for (const reply of replies) {
    if (freshest === undefined || reply.answer.appliedIndex > freshest.answer.appliedIndex) freshest = reply;
  }
  return freshest !== undefined && freshest.answer.appliedIndex >= index ? freshest : undefined;
}

/** What R replies allow: answer the freshest replica's value, or wait for a pending write first. */
export function decideQuorumRead(
  replies: readonly ReplicaReply[],
  options: QuorumDecisionOptions = {},
): QuorumDecision {
  assert(replies.length > 0, 'a quorum read decides on one reply at least');
  const target = readTargetIndex(replies, options);
  const freshest = freshestReplyAtLeast(replies, target);
  return freshest === undefined
    ? { kind: 'waitForApplied', index: target }
    : { kind: 'answer', reply: freshest };
}
