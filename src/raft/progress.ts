// What a leader knows about one follower's log (etcd's tracker/progress.go).
import { assert } from '../assert.js';

/**
 * probe: we do not know where the follower's log matches; send one AppendEntries per
 * heartbeat until one is accepted. replicate: the follower keeps up; stream entries
 * optimistically, at most inflightMessagesMax messages unacknowledged.
 */
export type ProgressState = 'probe' | 'replicate';

/** A bounded window of the last indices of AppendEntries messages in flight. */
export class Inflights {
  private readonly lastIndices: number[] = [];

  constructor(private readonly capacity: number) {}

  add(lastIndex: number): void {
    assert(!this.full(), 'inflight window overflow');
    this.lastIndices.push(lastIndex);
  }

  /** Frees every message whose entries are all at or below `index`. */
  freeUpTo(index: number): void {
    let freed = 0;
    while (freed < this.lastIndices.length && this.lastIndices[freed]! <= index) freed++;
    this.lastIndices.splice(0, freed);
  }

  freeFirst(): void {
    this.lastIndices.shift();
  }

  full(): boolean {
    return this.lastIndices.length >= this.capacity;
  }

  count(): number {
    return this.lastIndices.length;
  }

  reset(): void {
    this.lastIndices.length = 0;
  }
}

export class Progress {
  /** Highest index known to match the leader's log. Invariant: match < next. */
  match = 0;
  /** Next index to send. */
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: one probe is outstanding, wait for its answer or the next heartbeat. */
  probeSent = false;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** The highest commit index sent to this peer in an AppendEntries. */
  sentCommit = 0;
  /** The highest heartbeat round this peer acknowledged (for ReadIndex and the lease). */
  ackedRound = 0;
  readonly inflights: Inflights;

  constructor(next: number, inflightMessagesMax: number) {
    this.next = next;
    this.inflights = new Inflights(inflightMessagesMax);
  }

  becomeProbe(): void {
    this.state = 'probe';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.inflights.reset();
  }

  /** An acknowledgement up to `index` arrived; false when it tells nothing new. */
  maybeUpdate(index: number): boolean {
    if (index <= this.match) return false;
    this.match = index;
    this.next = Math.max(this.next, index + 1);
    this.probeSent = false;
    return true;
  }

  /**
   * A rejection of the message that probed `rejectedIndex` arrived, with the follower's hint
   * of where the logs may match. False when the rejection is stale (an older message).
   */
  maybeDecreaseTo(rejectedIndex: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejectedIndex <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejectedIndex) return false;
    this.next = Math.max(Math.min(rejectedIndex, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Messages were sent whose last entry is `lastIndex` (replicate state only). */
  sentUpTo(lastIndex: number): void {
    this.next = lastIndex + 1;
    this.inflights.add(lastIndex);
  }

  isPaused(): boolean {
    return this.state === 'probe' ? this.probeSent : this.inflights.full();
  }
}
