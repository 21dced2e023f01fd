import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HistoryOp, OpType } from '../history.js';
import { checkSet, type SetDetails } from './set.js';
import { exitCodeOf, runVerdict } from './verdict.js';

/** One event of a hand-written history; its time is its position. */
type Row = [process: number | 'nemesis', type: OpType, f: string, value?: unknown, node?: number];

function history(rows: Row[]): HistoryOp[] {
  return rows.map(([process, type, f, value, node], index) => ({
    index,
    time: index,
    process,
    type,
    f,
    ...(value === undefined ? {} : { value }),
    ...(node === undefined ? {} : { node }),
  }));
}

const cases: Array<{ name: string; valid: boolean | 'unknown'; rows: Row[] }> = [
  {
    name: 'every acknowledged add is read',
    valid: true,
    rows: [
      [0, 'invoke', 'add', 1],
      [0, 'ok', 'add'],
      [1, 'invoke', 'add', 2],
      [1, 'ok', 'add'],
      [9, 'invoke', 'read', undefined, 3],
      [9, 'ok', 'read', [1, 2], 3],
    ],
  },
  {
    name: 'an acknowledged add missing from the final read is lost',
    valid: false,
    rows: [
      [0, 'invoke', 'add', 1],
      [0, 'ok', 'add'],
      [1, 'invoke', 'add', 2],
      [1, 'ok', 'add'],
      [9, 'invoke', 'read', undefined, 3],
      [9, 'ok', 'read', [2], 3],
    ],
  },
  {
    name: 'an element nobody added is a phantom',
    valid: false,
    rows: [
      [0, 'invoke', 'add', 1],
      [0, 'ok', 'add'],
      [9, 'invoke', 'read'],
      [9, 'ok', 'read', [1, 7]],
    ],
  },
  {
    name: 'an element whose add failed must not be present',
    valid: false,
    rows: [
      [0, 'invoke', 'add', 1],
      [0, 'fail', 'add'],
      [9, 'invoke', 'read'],
      [9, 'ok', 'read', [1]],
    ],
  },
  {
    name: 'an indeterminate add may be present or absent',
    valid: true,
    rows: [
      [0, 'invoke', 'add', 1],
      [0, 'info', 'add'],
      [1, 'invoke', 'add', 2],
      [1, 'info', 'add'],
      [9, 'invoke', 'read'],
      [9, 'ok', 'read', [2]],
    ],
  },
  {
    name: 'an add acknowledged only after the read began need not be in it',
    valid: true,
    rows: [
      [0, 'invoke', 'add', 1],
      [9, 'invoke', 'read'],
      [0, 'ok', 'add'],
      [9, 'ok', 'read', []],
    ],
  },
  {
    name: 'an element whose add began before the read ended is no phantom',
    valid: true,
    rows: [
      [9, 'invoke', 'read'],
      [0, 'invoke', 'add', 1],
      [9, 'ok', 'read', [1]],
      [0, 'ok', 'add'],
    ],
  },
  {
    name: 'without a successful final read nothing is decided',
    valid: 'unknown',
    rows: [
      [0, 'invoke', 'add', 1],
      [0, 'ok', 'add'],
      ['nemesis', 'info', 'kill', { phase: 'start' }],
      [9, 'invoke', 'read'],
      [9, 'fail', 'read'],
    ],
  },
  {
    name: 'one good read does not excuse another that lost an element',
    valid: false,
    rows: [
      [0, 'invoke', 'add', 'a'],
      [0, 'ok', 'add'],
      [8, 'invoke', 'read', undefined, 1],
      [8, 'ok', 'read', ['a'], 1],
      [9, 'invoke', 'read', undefined, 2],
      [9, 'ok', 'read', [], 2],
    ],
  },
];

describe('checkSet', () => {
  for (const { name, valid, rows } of cases) {
    it(name, () => {
      expect(checkSet(history(rows)).valid).toBe(valid);
    });
  }

  it('names the lost element, the node, and shows its add in the counterexample', () => {
    const result = checkSet(history(cases[1]!.rows));
    expect(result.summary).toContain('1 acknowledged elements lost');
    expect(result.counterexample?.description).toBe(
      'element 1 was acknowledged, then missing from the final read on node 3',
    );
    expect(result.counterexample?.ops.map((op) => [op.type, op.f])).toEqual([
      ['invoke', 'add'],
      ['ok', 'add'],
      ['ok', 'read'],
    ]);
    const details = result.details as SetDetails;
    expect(details.reads[0]).toMatchObject({ node: 3, lost: [1], lostCount: 1, present: 1 });
  });

  it('a read of exactly the acknowledged elements plus any indeterminate ones passes (property)', () => {
    const outcome = fc.constantFrom<OpType>('ok', 'fail', 'info');
    fc.assert(
      fc.property(fc.array(fc.tuple(outcome, fc.boolean()), { maxLength: 40 }), (adds) => {
        const rows: Row[] = adds.flatMap(([type], element): Row[] => [
          [element, 'invoke', 'add', element],
          [element, type, 'add'],
        ]);
        const present = adds.flatMap(([type, indeterminateLanded], element) =>
          type === 'ok' || (type === 'info' && indeterminateLanded) ? [element] : [],
        );
        rows.push([1000, 'invoke', 'read'], [1000, 'ok', 'read', present]);
        expect(checkSet(history(rows)).valid).toBe(true);
      }),
    );
  });
});

describe('runVerdict', () => {
  const result = (valid: boolean | 'unknown') => ({ checker: 'x', valid, summary: '' });

  it('a violation outweighs an undecided checker; undecided outweighs pass', () => {
    expect(runVerdict([result(true), result('unknown'), result(false)])).toBe('violation');
    expect(runVerdict([result(true), result('unknown')])).toBe('inconclusive');
    expect(runVerdict([result(true), result(true)])).toBe('pass');
    expect(runVerdict([])).toBe('inconclusive');
  });

  it('maps verdicts to the exit codes of design.md §6', () => {
    expect([exitCodeOf('pass'), exitCodeOf('violation'), exitCodeOf('inconclusive')]).toEqual([0, 1, 3]);
  });
});
