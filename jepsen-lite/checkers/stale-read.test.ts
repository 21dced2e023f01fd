import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HistoryOp, OpType } from '../history.js';
import { checkRegisterLinearizability } from './linearizability.js';
import { checkStaleReads } from './stale-read.js';

/** One event of a hand-written history on key 'k'; its time is its position. */
type Row = [process: number, type: OpType, f: string, value?: unknown];

function history(rows: Row[]): HistoryOp[] {
  return rows.map(([process, type, f, value], index) => ({
    index,
    time: index,
    process,
    type,
    f,
    key: 'k',
    node: 1,
    ...(value === undefined ? {} : { value }),
  }));
}

const cases: Array<{ name: string; stale: boolean; rows: Row[] }> = [
  {
    name: 'a read of a value overwritten before it began',
    stale: true,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write'],
      [1, 'invoke', 'write', 2],
      [1, 'ok', 'write'],
      [2, 'invoke', 'read'],
      [2, 'ok', 'read', 1],
    ],
  },
  {
    name: 'a read of null after a write completed (a lost write)',
    stale: true,
    rows: [
      [0, 'invoke', 'cas', [null, 1]],
      [0, 'ok', 'cas'],
      [2, 'invoke', 'read'],
      [2, 'ok', 'read', null],
    ],
  },
  {
    name: 'two overlapping writes may land in either order',
    stale: false,
    rows: [
      [0, 'invoke', 'write', 1],
      [1, 'invoke', 'write', 2],
      [0, 'ok', 'write'],
      [1, 'ok', 'write'],
      [2, 'invoke', 'read'],
      [2, 'ok', 'read', 1],
    ],
  },
  {
    name: 'a read concurrent with the overwrite may see the old value',
    stale: false,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write'],
      [1, 'invoke', 'write', 2],
      [2, 'invoke', 'read'],
      [1, 'ok', 'write'],
      [2, 'ok', 'read', 1],
    ],
  },
  {
    name: 'an overwrite that failed or is indeterminate proves nothing',
    stale: false,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write'],
      [1, 'invoke', 'write', 2],
      [1, 'fail', 'write'],
      [3, 'invoke', 'write', 3],
      [3, 'info', 'write'],
      [2, 'invoke', 'read'],
      [2, 'ok', 'read', 1],
    ],
  },
];

describe('checkStaleReads', () => {
  for (const { name, stale, rows } of cases) {
    it(name, () => {
      expect(checkStaleReads(history(rows)).valid).toBe(!stale);
    });
  }

  it('names the three ops that prove it', () => {
    const result = checkStaleReads(history(cases[0]!.rows));
    expect(result.counterexample?.ops.map((op) => op.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(result.counterexample?.description).toContain(
      'Read #4 on node 1 of k began after write #2 of 2 completed',
    );
  });

  it('never flags a history the full linearizability search accepts (property)', () => {
    const op = fc.record({
      process: fc.integer({ min: 0, max: 2 }),
      f: fc.constantFrom('read', 'write', 'cas'),
      outcome: fc.constantFrom<OpType>('ok', 'ok', 'fail', 'info'),
      readValue: fc.integer({ min: 0, max: 5 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 14 }), (ops) => {
        let nextValue = 1;
        const busy = new Map<number, Row>();
        const rows: Row[] = [];
        for (const { process, f, outcome, readValue } of ops) {
          const invoked = busy.get(process);
          if (invoked) {
            const value = invoked[2] === 'read' ? (readValue === 0 ? null : readValue) : undefined;
            rows.push([process, outcome, invoked[2], value]);
            busy.delete(process);
            continue;
          }
          const value =
            f === 'read'
              ? undefined
              : f === 'write'
                ? nextValue++
                : [readValue === 0 ? null : readValue, nextValue++];
          const invoke: Row = [process, 'invoke', f, value];
          rows.push(invoke);
          busy.set(process, invoke);
        }
        const generated = history(rows);
        if (checkRegisterLinearizability(generated).valid === true)
          expect(checkStaleReads(generated).valid).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
