// ReadIndex bookkeeping (Raft thesis §6.4, etcd's read_only.go), batched by heartbeat round:
// every read that arrives while a round is still unsent joins that round, and one quorum of
// acknowledgements releases all of them.
import type { NodeId } from './messages.js';

export interface PendingRead {
  readId: number;
  /** The node that asked (the leader itself, or a follower that forwarded the read). */
  from: NodeId;
  /** The commit index when the read arrived: it may be served once this is applied. */
  index: number;
}

interface Round {
  round: number;
  reads: PendingRead[];
}

export class ReadOnlyQueue {
  /** Rounds in increasing order, each with the reads it will confirm. */
  private rounds: Round[] = [];
  private readCount = 0;

  constructor(private readonly pendingReadsMax: number) {}

  isFull(): boolean {
    return this.readCount >= this.pendingReadsMax;
  }

  add(round: number, read: PendingRead): void {
    const last = this.rounds.at(-1);
    if (last && last.round === round) {
      last.reads.push(read);
    } else {
      this.rounds.push({ round, reads: [read] });
    }
    this.readCount++;
  }

  /** A quorum has acknowledged `round` (or a later one): release every read up to it. */
  confirm(round: number): PendingRead[] {
    let released = 0;
    while (released < this.rounds.length && this.rounds[released]!.round <= round) released++;
    const reads = this.rounds.splice(0, released).flatMap((entry) => entry.reads);
    this.readCount -= reads.length;
    return reads;
  }

  /** The leader stepped down: every pending read is refused. */
  drain(): PendingRead[] {
    const reads = this.rounds.flatMap((entry) => entry.reads);
    this.rounds = [];
    this.readCount = 0;
    return reads;
  }
}
