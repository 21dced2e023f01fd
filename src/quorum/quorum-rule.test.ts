// The pure rules of quorum reads: R against W, and what R replies allow a read to answer.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decideQuorumRead,
  defaultReadQuorumSize,
  ReadQuorumError,
  type ReplicaAnswer,
  type ReplicaReply,
  readQuorumSize,
  writeQuorumSize,
} from './quorum-rule.js';

function reply(replicaId: number, appliedIndex: number, pendingIndex: number, modRevision = 0): ReplicaReply {
  const answer: ReplicaAnswer = {
    value: modRevision === 0 ? null : `v${modRevision}`,
    createRevision: modRevision === 0 ? 0 : 1,
    modRevision,
    version: modRevision === 0 ? 0 : 1,
    appliedIndex,
    pendingIndex,
  };
  return { replicaId, answer };
}

describe('quorum sizes', () => {
  it.each([
    [1, 1, 1],
    [2, 2, 1],
    [3, 2, 2],
    [4, 3, 2],
    [5, 3, 3],
    [6, 4, 3],
    [7, 4, 4],
  ])('%i voters: W = %i, R = %i, and R + W > N', (voters, write, read) => {
    expect(writeQuorumSize(voters)).toBe(write);
    expect(defaultReadQuorumSize(voters)).toBe(read);
    expect(read + write).toBeGreaterThan(voters);
    expect(readQuorumSize(voters, undefined, false)).toBe(read);
  });

  it('takes an override that still intersects every write quorum', () => {
    expect(readQuorumSize(5, 4, false)).toBe(4);
    expect(readQuorumSize(5, 5, false)).toBe(5);
  });

  it('refuses R + W <= N with a clear error, unless weak quorums are allowed', () => {
    expect(() => readQuorumSize(5, 2, false)).toThrow(ReadQuorumError);
    expect(() => readQuorumSize(5, 1, false)).toThrow(
      /--read-quorum 1 with 5 voters: R \+ W = 1 \+ 3 <= N = 5.*--unsafe-allow-weak-quorum/,
    );
    expect(readQuorumSize(5, 1, true)).toBe(1);
  });

  it('refuses an R no configuration can meet, even when weak quorums are allowed', () => {
    expect(() => readQuorumSize(5, 6, true)).toThrow(/from 1 to the 5 voters/);
    expect(() => readQuorumSize(5, 0, true)).toThrow(ReadQuorumError);
  });
});

describe('decideQuorumRead', () => {
  it('answers the freshest replica when nothing is pending', () => {
    const decision = decideQuorumRead([reply(1, 10, 0, 4), reply(2, 12, 0, 11), reply(3, 9, 0, 4)]);
    expect(decision).toEqual({ kind: 'answer', reply: reply(2, 12, 0, 11) });
  });

  it('answers at once when every pending write is applied at the freshest replica', () => {
    const decision = decideQuorumRead([reply(1, 10, 11, 4), reply(2, 12, 0, 11)]);
    expect(decision).toMatchObject({ kind: 'answer', reply: { replicaId: 2 } });
  });

  it('waits when a write is committed but not yet applied on the replicas asked', () => {
    // Index 12 wrote the key and committed, but none of the three asked has applied it yet.
    const replies = [reply(1, 10, 0, 4), reply(2, 11, 12, 4), reply(3, 10, 12, 4)];
    expect(decideQuorumRead(replies)).toEqual({ kind: 'waitForApplied', index: 12 });
  });

  it('waits for a write pending on a replica that is not the freshest', () => {
    const replies = [reply(1, 15, 0, 4), reply(2, 10, 17, 4)];
    expect(decideQuorumRead(replies)).toEqual({ kind: 'waitForApplied', index: 17 });
  });

  it('with the planted bug (--test-skip-pqr-wait) answers the stale value instead', () => {
    const replies = [reply(1, 10, 0, 4), reply(2, 11, 12, 4), reply(3, 10, 12, 4)];
    expect(decideQuorumRead(replies, { ignorePendingWrites: true })).toMatchObject({
      kind: 'answer',
      reply: { replicaId: 2, answer: { modRevision: 4 } },
    });
  });
});

/**
 * A model of N replicas of one log of writes: the latest write to the key committed at or below
 * commitIndex must be what any R replies lead to (at once or after the wait).
 */
const voterCount = 5;
const clusterState = fc
  .record({
    /** Which of the entries 1..L write the key. */
    writesKey: fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }),
    commitFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    replicaDraws: fc.array(
      fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
      {
        minLength: voterCount,
        maxLength: voterCount,
      },
    ),
    asked: fc.shuffledSubarray([0, 1, 2, 3, 4], {
      minLength: defaultReadQuorumSize(voterCount),
      maxLength: defaultReadQuorumSize(voterCount),
    }),
  })
  .map(({ writesKey, commitFraction, replicaDraws, asked }) => {
    const lastIndex = writesKey.length;
    const commitIndex = Math.round(commitFraction * lastIndex);
    /** The index of the last write to the key at or below `index`; 0 when none. */
    const lastWriteAtOrBelow = (index: number) => writesKey.slice(0, index).lastIndexOf(true) + 1;
    const replicas = replicaDraws.map(([appendDraw, applyDraw], position) => {
      // A majority holds every committed entry; any replica may hold more, or (the rest) less.
      const appendedMin = position < writeQuorumSize(voterCount) ? commitIndex : 0;
      const appended = appendedMin + Math.round(appendDraw * (lastIndex - appendedMin));
      const applied = Math.round(applyDraw * Math.min(appended, commitIndex));
      const pendingWrites = writesKey.slice(applied, appended).lastIndexOf(true);
      return reply(
        position + 1,
        applied,
        pendingWrites < 0 ? 0 : applied + pendingWrites + 1,
        lastWriteAtOrBelow(applied),
      );
    });
    return {
      replicas,
      asked,
      commitIndex,
      expectedRevision: lastWriteAtOrBelow(commitIndex),
      lastWriteAtOrBelow,
    };
  });

/** Decides on the replies asked; a wait ends with a replica that applied the target, as the coordinator's does. */
function modelRead(
  replicas: ReplicaReply[],
  asked: number[],
  lastWriteAtOrBelow: (index: number) => number,
  ignorePendingWrites: boolean,
): number {
  const decision = decideQuorumRead(
    asked.map((position) => replicas[position]!),
    { ignorePendingWrites },
  );
  if (decision.kind === 'answer') return decision.reply.answer.modRevision;
  return lastWriteAtOrBelow(decision.index);
}

describe('the Paxos Quorum Reads rule against a model of the cluster', () => {
  it('every read sees the latest committed write of the key', () => {
    fc.assert(
      fc.property(clusterState, ({ replicas, asked, expectedRevision, lastWriteAtOrBelow }) => {
        expect(modelRead(replicas, asked, lastWriteAtOrBelow, false)).toBeGreaterThanOrEqual(
          expectedRevision,
        );
      }),
      { numRuns: 2_000 },
    );
  });

  it('the planted bug (--test-skip-pqr-wait) is caught: some read misses a committed write', () => {
    expect(() =>
      fc.assert(
        fc.property(clusterState, ({ replicas, asked, expectedRevision, lastWriteAtOrBelow }) => {
          expect(modelRead(replicas, asked, lastWriteAtOrBelow, true)).toBeGreaterThanOrEqual(
            expectedRevision,
          );
        }),
        { numRuns: 2_000 },
      ),
    ).toThrow();
  });
});
