// The quorum-read coordinator (design.md §5): asks R of the N voters for a key (this node with a
// local call, the others on their peer port), hedges a slow reply with one more replica, and
// answers by the rule in quorum-rule.ts, asking again while a pending write has yet to apply.
import type { QuorumReadConfig } from '../config.js';
import { RaftkvError } from '../errors.js';
import type { NodeId } from '../raft/messages.js';
import {
  decideQuorumRead,
  freshestReplyAtLeast,
  ReadQuorumError,
  type ReplicaAnswer,
  type ReplicaReply,
  readQuorumSize,
} from './quorum-rule.js';

/** One replica a read may ask: this node (a local call) or a peer (over its peer port). */
export interface Replica {
  readonly id: NodeId;
  /** Rejects when the replica cannot answer, or not within `timeoutMs`. */
  ask(key: string, timeoutMs: number): Promise<ReplicaAnswer>;
}

export interface QuorumReadOptions extends QuorumReadConfig {
  selfId: NodeId;
  /** The voters now: R follows the configuration at each read. */
  voters: () => readonly NodeId[];
  /** How to ask a voter; undefined when its address is not known. */
  replica: (id: NodeId) => Replica | undefined;
  /** A read that has no answer by then fails with READ_TIMEOUT. */
  readTimeoutMs: number;
  /** Orders the peers asked; [0, 1). */
  random?: () => number;
  /** Told of each hedged request (metrics). */
  onHedge?: () => void;
  /** Told of each read that waits for a pending write (metrics). */
  onPendingWait?: () => void;
}

/** The read's deadline on the monotonic clock. */
class Deadline {
  private readonly atMs: number;

  constructor(durationMs: number) {
    this.atMs = performance.now() + durationMs;
  }

  remainingMs(): number {
    return Math.max(0, this.atMs - performance.now());
  }
}

export class QuorumReads {
  constructor(private readonly options: QuorumReadOptions) {}

  /** Reads `key` at quorum consistency; resolves with the reply whose value is served. */
  async read(key: string): Promise<ReplicaReply> {
    const deadline = new Deadline(this.options.readTimeoutMs);
    const { replicas, readQuorum } = this.plan();
    const replies = await gatherReplies(replicas, readQuorum, key, {
      hedgeDelayMs: this.options.hedgeDelayMs,
      deadline,
      onHedge: this.options.onHedge,
    });
    const decision = decideQuorumRead(replies, { ignorePendingWrites: this.options.testSkipPendingWait });
    if (decision.kind === 'answer') return decision.reply;
    this.options.onPendingWait?.();
    const answered = replicas.filter((replica) => replies.some((reply) => reply.replicaId === replica.id));
    return waitForApplied(answered, key, decision.index, deadline, this.options.pendingPollMs);
  }

  /**
   * R, and the replicas in the order they are asked: this node first when it votes (its answer
   * costs no hop), then the other voters shuffled, so that the reads of a node spread over its peers.
   */
  private plan(): { replicas: Replica[]; readQuorum: number } {
    const voters = this.options.voters();
    let readQuorum: number;
    try {
      readQuorum = readQuorumSize(voters.length, this.options.readQuorum, this.options.allowWeakQuorum);
    } catch (error) {
      // The configuration changed under a --read-quorum that no longer fits it.
      if (error instanceof ReadQuorumError) throw new RaftkvError('NO_QUORUM', error.message);
      throw error;
    }
    const peers = voters.filter((id) => id !== this.options.selfId);
    shuffle(peers, this.options.random ?? Math.random);
    const ordered = voters.includes(this.options.selfId) ? [this.options.selfId, ...peers] : peers;
    const replicas = ordered.flatMap((id) => this.options.replica(id) ?? []);
    return { replicas, readQuorum };
  }
}

function shuffle<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

interface GatherOptions {
  hedgeDelayMs: number;
  deadline: Deadline;
  onHedge?: () => void;
}

/**
 * Asks the first `needed` replicas at once, one more when `hedgeDelayMs` passes without `needed`
 * replies (the hedge, sent once), and the next in place of each that fails. The first `needed`
 * replies win; later ones are dropped.
 */
function gatherReplies(
  replicas: readonly Replica[],
  needed: number,
  key: string,
  options: GatherOptions,
): Promise<ReplicaReply[]> {
  if (replicas.length < needed) {
    const known = `only ${replicas.length} voters have a known address`;
    return Promise.reject(new RaftkvError('NO_QUORUM', `a quorum read needs ${needed} replicas; ${known}`));
  }
  return new Promise((resolve, reject) => {
    const replies: ReplicaReply[] = [];
    let asked = 0;
    let inFlight = 0;
    let settled = false;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(hedgeTimer);
      clearTimeout(deadlineTimer);
      finish();
    };
    const failIfExhausted = () => {
      if (inFlight === 0 && asked === replicas.length)
        settle(() => reject(tooFewReplies(replies.length, needed)));
    };
    const askNext = () => {
      const replica = replicas[asked++]!;
      inFlight++;
      replica.ask(key, options.deadline.remainingMs()).then(
        (answer) => {
          inFlight--;
          if (settled) return;
          replies.push({ replicaId: replica.id, answer });
          if (replies.length === needed) settle(() => resolve(replies));
          else failIfExhausted();
        },
        () => {
          inFlight--;
          if (settled) return;
          if (asked < replicas.length) askNext();
          else failIfExhausted();
        },
      );
    };
    const hedgeTimer = setTimeout(() => {
      if (settled || asked === replicas.length) return;
      options.onHedge?.();
      askNext();
    }, options.hedgeDelayMs);
    const deadlineTimer = setTimeout(
      () =>
        settle(() =>
          reject(new RaftkvError('READ_TIMEOUT', `fewer than ${needed} replicas answered in time`)),
        ),
      options.deadline.remainingMs(),
    );
    while (asked < needed) askNext();
  });
}

function tooFewReplies(replies: number, needed: number): RaftkvError {
  return new RaftkvError('NO_QUORUM', `a quorum read needs ${needed} replicas; only ${replies} answered`);
}

/**
 * The Paxos Quorum Reads wait: asks the replicas that answered again, every `pollMs`, until one
 * has applied `index`, and serves the freshest of those. READ_TIMEOUT at the deadline.
 */
async function waitForApplied(
  replicas: readonly Replica[],
  key: string,
  index: number,
  deadline: Deadline,
  pollMs: number,
): Promise<ReplicaReply> {
  for (;;) {
    const round = await Promise.allSettled(
      replicas.map(async (replica) => ({
        replicaId: replica.id,
        answer: await replica.ask(key, deadline.remainingMs()),
      })),
    );
    const replies = round.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const served = freshestReplyAtLeast(replies, index);
    if (served !== undefined) return served;
    if (deadline.remainingMs() <= pollMs) {
      throw new RaftkvError('READ_TIMEOUT', `a write pending at index ${index} was not applied in time`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
