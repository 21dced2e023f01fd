// The quorum-read coordinator against simulated replicas on fake timers: who is asked, the hedge,
// failures, deadlines, and the wait for a write committed but not yet applied on the replicas asked.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defaultQuorumReadConfig, type QuorumReadConfig } from '../config.js';
import { RaftkvError } from '../errors.js';
import { QuorumReads, type Replica } from './quorum-read.js';
import type { ReplicaAnswer } from './quorum-rule.js';

/** A replica of one key: its state may change while a read runs; each answer takes `delayMs`. */
class SimulatedReplica implements Replica {
  asked = 0;
  delayMs = 1;
  down = false;
  appliedIndex = 10;
  pendingIndex = 0;
  /** The key's value as of appliedIndex, and the revision that wrote it. */
  value: unknown = 'old';
  modRevision = 4;

  constructor(readonly id: number) {}

  ask(): Promise<ReplicaAnswer> {
    this.asked++;
    return new Promise((resolve, reject) =>
      setTimeout(
        () => (this.down ? reject(new Error(`replica ${this.id} is down`)) : resolve(this.answer())),
        this.delayMs,
      ),
    );
  }

  /** The write at `index` applies here. */
  applyWrite(index: number, value: unknown): void {
    this.appliedIndex = index;
    this.value = value;
    this.modRevision = index;
    if (this.pendingIndex <= index) this.pendingIndex = 0;
  }

  private answer(): ReplicaAnswer {
    const { value, modRevision, appliedIndex, pendingIndex } = this;
    return { value, createRevision: 1, modRevision, version: 1, appliedIndex, pendingIndex };
  }
}

const selfId = 1;
const readTimeoutMs = 5_000;

function cluster(voterCount: number, config: Partial<QuorumReadConfig> = {}) {
  const replicas = Array.from({ length: voterCount }, (_, i) => new SimulatedReplica(i + 1));
  const events = { hedges: 0, pendingWaits: 0 };
  const reads = new QuorumReads({
    ...defaultQuorumReadConfig,
    ...config,
    selfId,
    voters: () => replicas.map((replica) => replica.id),
    replica: (id) => replicas[id - 1],
    readTimeoutMs,
    // Always the same order of peers: 2, 3, 4, ... (a shuffle that moves nothing).
    random: () => 0.999_999,
    onHedge: () => events.hedges++,
    onPendingWait: () => events.pendingWaits++,
  });
  const asked = () => replicas.map((replica) => replica.asked);
  return { replicas, reads, events, asked };
}

describe('QuorumReads', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('asks R = N - W + 1 voters, itself first, and answers the freshest', async () => {
    const { replicas, reads, asked } = cluster(5);
    replicas[2]!.applyWrite(12, 'new');
    const read = reads.read('k');
    await vi.advanceTimersByTimeAsync(5);
    await expect(read).resolves.toMatchObject({ replicaId: 3, answer: { value: 'new', appliedIndex: 12 } });
    expect(asked()).toEqual([1, 1, 1, 0, 0]);
  });

  it('spreads the peers asked over the voters', async () => {
    const replicas = Array.from({ length: 5 }, (_, i) => new SimulatedReplica(i + 1));
    let draw = 0;
    const reads = new QuorumReads({
      ...defaultQuorumReadConfig,
      selfId,
      voters: () => replicas.map((replica) => replica.id),
      replica: (id) => replicas[id - 1],
      readTimeoutMs,
      random: () => (draw++ * 0.618_033_988_7) % 1,
    });
    for (let i = 0; i < 40; i++) {
      const read = reads.read('k');
      await vi.advanceTimersByTimeAsync(5);
      await read;
    }
    expect(replicas[0]!.asked).toBe(40);
    for (const peer of replicas.slice(1)) expect(peer.asked).toBeGreaterThan(5);
  });

  it('hedges a slow reply: one more replica after hedgeDelayMs, and the first R replies win', async () => {
    const { replicas, reads, events, asked } = cluster(5, { hedgeDelayMs: 100 });
    replicas[1]!.delayMs = 2_000;
    replicas[3]!.applyWrite(12, 'new');
    const read = reads.read('k');
    await vi.advanceTimersByTimeAsync(99);
    expect(asked()).toEqual([1, 1, 1, 0, 0]);
    expect(events.hedges).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(asked()).toEqual([1, 1, 1, 1, 0]);
    await vi.advanceTimersByTimeAsync(5);
    await expect(read).resolves.toMatchObject({ replicaId: 4, answer: { value: 'new' } });
    expect(events.hedges).toBe(1);
    // The slow reply, when it comes, changes nothing; no second hedge went out.
    await vi.advanceTimersByTimeAsync(2_000);
    expect(asked()).toEqual([1, 1, 1, 1, 0]);
  });

  it('sends no hedge when R replies come in time', async () => {
    const { reads, events, asked } = cluster(5, { hedgeDelayMs: 100 });
    const read = reads.read('k');
    await vi.advanceTimersByTimeAsync(500);
    await read;
    expect(events.hedges).toBe(0);
    expect(asked()).toEqual([1, 1, 1, 0, 0]);
  });

  it('asks the next voter in place of one that fails, without waiting for the hedge', async () => {
    const { replicas, reads, asked } = cluster(5, { hedgeDelayMs: 100 });
    replicas[1]!.down = true;
    const read = reads.read('k');
    await vi.advanceTimersByTimeAsync(5);
    await expect(read).resolves.toMatchObject({ answer: { value: 'old' } });
    expect(asked()).toEqual([1, 1, 1, 1, 0]);
  });

  it('fails with NO_QUORUM when fewer than R replicas can answer', async () => {
    const { replicas, reads } = cluster(5);
    for (const replica of replicas.slice(2)) replica.down = true;
    const read = reads.read('k');
    const outcome = expect(read).rejects.toMatchObject({ code: 'NO_QUORUM' });
    await vi.advanceTimersByTimeAsync(10);
    await outcome;
  });

  it('fails with READ_TIMEOUT when R replies do not come before the deadline', async () => {
    const { replicas, reads } = cluster(3);
    for (const replica of replicas.slice(1)) replica.delayMs = 60_000;
    const read = reads.read('k');
    const outcome = expect(read).rejects.toMatchObject({ code: 'READ_TIMEOUT' });
    await vi.advanceTimersByTimeAsync(readTimeoutMs);
    await outcome;
  });

  it('refuses R + W <= N when the voters change under a --read-quorum that no longer fits', async () => {
    const { reads } = cluster(5, { readQuorum: 2 });
    await expect(reads.read('k')).rejects.toThrow(RaftkvError);
    await expect(reads.read('k')).rejects.toMatchObject({ code: 'NO_QUORUM', message: /R \+ W = 2 \+ 3/ });
  });

  describe('a write committed but not yet applied on the replicas asked', () => {
    /** Index 12 writes "new": committed (on 3 of 5), applied on none of the three asked yet. */
    function pendingWriteCluster(config: Partial<QuorumReadConfig> = {}) {
      const simulated = cluster(5, config);
      const [self, second, third, fourth] = simulated.replicas;
      second!.pendingIndex = 12;
      third!.pendingIndex = 12;
      third!.appliedIndex = 11;
      fourth!.applyWrite(12, 'new');
      fourth!.down = true;
      return { ...simulated, self: self!, third: third! };
    }

    it('waits until a replica asked has applied the write, and answers the new value', async () => {
      const { reads, events, third } = pendingWriteCluster();
      const read = reads.read('k');
      let answered = false;
      void read.then(() => (answered = true));
      await vi.advanceTimersByTimeAsync(50);
      expect(answered).toBe(false);
      expect(events.pendingWaits).toBe(1);
      third.applyWrite(12, 'new');
      await vi.advanceTimersByTimeAsync(20);
      await expect(read).resolves.toMatchObject({ replicaId: 3, answer: { value: 'new', modRevision: 12 } });
    });

    it('fails with READ_TIMEOUT when the write never applies in time', async () => {
      const { reads } = pendingWriteCluster();
      const read = reads.read('k');
      const outcome = expect(read).rejects.toMatchObject({ code: 'READ_TIMEOUT', message: /index 12/ });
      await vi.advanceTimersByTimeAsync(readTimeoutMs);
      await outcome;
    });

    it('the planted bug (--test-skip-pqr-wait) answers the stale value at once', async () => {
      const { reads, events } = pendingWriteCluster({ testSkipPendingWait: true });
      const read = reads.read('k');
      await vi.advanceTimersByTimeAsync(5);
      await expect(read).resolves.toMatchObject({ answer: { value: 'old', modRevision: 4 } });
      expect(events.pendingWaits).toBe(0);
    });
  });
});
