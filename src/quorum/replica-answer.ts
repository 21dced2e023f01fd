// What a replica answers a quorum read, from its own applied state: the same function serves
// this node's own share of a read and the peer route `POST /quorum/read` (design.md §6).
import { Packr } from 'msgpackr';
import type { NodeId } from '../raft/messages.js';
import { kvGet, kvService } from '../statemachine/kv.js';
import { qualifiedKey } from '../statemachine/service.js';
import type { StateReader } from '../statemachine/state-store.js';
import type { ReplicaAnswer } from './quorum-rule.js';

/** The peer route of quorum reads, on the peer port: `{key}` in (JSON or msgpack), a ReplicaAnswer out. */
export const quorumReadPath = '/quorum/read';

/** What a replica needs from its node: read together, they say how fresh its state is. */
export interface ReplicaIndices {
  lastAppliedIndex(): number;
  /** The highest appended, unapplied index touching a state key (namespace + key); 0 if none. */
  pendingIndex(stateKey: string): number;
}

/**
 * Answers from local applied state. The indices are taken before the value is read: state only
 * moves forward, so the value is at least as fresh as `appliedIndex`, and whatever applied in
 * between was pending when the indices were taken, so `pendingIndex` covers it.
 */
export async function answerFromLocalState(
  node: ReplicaIndices,
  kvState: StateReader,
  key: string,
): Promise<ReplicaAnswer> {
  const appliedIndex = node.lastAppliedIndex();
  const pendingIndex = node.pendingIndex(qualifiedKey(kvService, key));
  const item = await kvGet(kvState, key);
  return {
    value: item?.value ?? null,
    createRevision: item?.createRevision ?? 0,
    modRevision: item?.modRevision ?? 0,
    version: item?.version ?? 0,
    appliedIndex,
    pendingIndex,
  };
}

const revisionFields = ['createRevision', 'modRevision', 'version', 'appliedIndex', 'pendingIndex'] as const;

/** Checks a peer's answer (it may run another build); throws on anything that is not a ReplicaAnswer. */
export function parseReplicaAnswer(body: unknown, from: NodeId): ReplicaAnswer {
  if (typeof body !== 'object' || body === null || !Object.hasOwn(body, 'value')) {
    throw new Error(`replica ${from} sent a malformed quorum-read answer`);
  }
  const fields = body as Record<string, unknown>;
  for (const name of revisionFields) {
    const field = fields[name];
    if (typeof field !== 'number' || !Number.isSafeInteger(field) || field < 0) {
      throw new Error(`replica ${from} sent a quorum-read answer whose ${name} is not an index`);
    }
  }
  return fields as unknown as ReplicaAnswer;
}

/** Quorum-read requests and answers between nodes are msgpack (JSON is accepted too, for people). */
export const quorumReadContentType = 'application/msgpack';
const packr = new Packr({ useRecords: false, moreTypes: false });

export function packQuorumMessage(message: unknown): Buffer {
  return packr.pack(message);
}

export function unpackQuorumMessage(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}
