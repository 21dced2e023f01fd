import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type HistoryOp,
  HistoryRecorder,
  type OpType,
  type PendingOp,
  parseJsonl,
  toJsonl,
} from '../history.js';
import { checkRegisterLinearizability } from './linearizability.js';

/** One event of a hand-written history; its time is its position. Key 'k' unless given. */
type Row = [process: number | 'nemesis', type: OpType, f: string, value?: unknown, key?: string];

function history(rows: Row[]): HistoryOp[] {
  return rows.map(([process, type, f, value, key = 'k'], index) => ({
    index,
    time: index,
    process,
    type,
    f,
    key,
    ...(value === undefined ? {} : { value }),
  }));
}

const cases: Array<{ name: string; valid: boolean; rows: Row[] }> = [
  {
    name: 'a read after a write completed sees it',
    valid: true,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write'],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 1],
    ],
  },
  {
    name: 'an untouched key reads null',
    valid: true,
    rows: [
      [0, 'invoke', 'read'],
      [0, 'ok', 'read', null],
    ],
  },
  {
    name: 'a stale read after a write completed',
    valid: false,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write'],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', null],
    ],
  },
  {
    name: 'a read of a value never written',
    valid: false,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write'],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 7],
    ],
  },
  {
    name: 'a read concurrent with a write may see the old value',
    valid: true,
    rows: [
      [0, 'invoke', 'write', 1],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', null],
      [0, 'ok', 'write'],
    ],
  },
  {
    name: 'a read concurrent with a write may see the new value',
    valid: true,
    rows: [
      [0, 'invoke', 'write', 1],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 1],
      [0, 'ok', 'write'],
    ],
  },
  {
    name: 'reads concurrent with one write cannot go back to the old value',
    valid: false,
    rows: [
      [0, 'invoke', 'write', 1],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 1],
      [2, 'invoke', 'read'],
      [2, 'ok', 'read', null],
      [0, 'ok', 'write'],
    ],
  },
  {
    name: 'two concurrent writes take one order for all later reads',
    valid: false,
    rows: [
      [0, 'invoke', 'write', 1],
      [1, 'invoke', 'write', 2],
      [0, 'ok', 'write'],
      [1, 'ok', 'write'],
      [2, 'invoke', 'read'],
      [2, 'ok', 'read', 1],
      [2, 'invoke', 'read'],
      [2, 'ok', 'read', 2],
    ],
  },
  {
    name: 'an info write may take effect long after it timed out',
    valid: true,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'info', 'write', 1],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', null],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 1],
    ],
  },
  {
    name: 'an info write may never take effect',
    valid: true,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'info', 'write', 1],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', null],
    ],
  },
  {
    name: 'a write that never completed may take effect',
    valid: true,
    rows: [
      [0, 'invoke', 'write', 1],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 1],
    ],
  },
  {
    name: 'an info write cannot take effect before it was invoked',
    valid: false,
    rows: [
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 1],
      [0, 'invoke', 'write', 1],
      [0, 'info', 'write', 1],
    ],
  },
  {
    name: 'an info write takes effect at most once',
    valid: false,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'info', 'write', 1],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 1],
      [1, 'invoke', 'write', 2],
      [1, 'ok', 'write', 2],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 1],
    ],
  },
  {
    name: 'identical info writes can each take effect once',
    valid: true,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'info', 'write', 1],
      [2, 'invoke', 'write', 2],
      [2, 'ok', 'write'],
      [2, 'invoke', 'read'],
      [2, 'ok', 'read', 1],
      [1, 'invoke', 'write', 1],
      [1, 'info', 'write', 1],
      [2, 'invoke', 'write', 2],
      [2, 'ok', 'write'],
      [2, 'invoke', 'read'],
      [2, 'ok', 'read', 1],
    ],
  },
  {
    name: 'an unanswered write may wait until after an unanswered cas',
    valid: true,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write'],
      [2, 'invoke', 'read'],
      [0, 'invoke', 'write', 1],
      [1, 'invoke', 'cas', [1, 2]],
      [2, 'ok', 'read', 2],
      [2, 'invoke', 'cas', [1, 1]],
      [2, 'ok', 'cas', [1, 1]],
    ],
  },
  {
    name: 'an info read constrains nothing',
    valid: true,
    rows: [
      [0, 'invoke', 'read'],
      [0, 'info', 'read', 99],
    ],
  },
  {
    name: 'a failed write never took effect',
    valid: false,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'fail', 'write', 1],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 1],
    ],
  },
  {
    name: 'a cas from absent swaps',
    valid: true,
    rows: [
      [0, 'invoke', 'cas', [null, 1]],
      [0, 'ok', 'cas', [null, 1]],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 1],
    ],
  },
  {
    name: 'an ok cas needs its expected value',
    valid: false,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write'],
      [0, 'invoke', 'cas', [3, 2]],
      [0, 'ok', 'cas', [3, 2]],
    ],
  },
  {
    name: 'a failed cas did not swap',
    valid: false,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write'],
      [0, 'invoke', 'cas', [1, 2]],
      [0, 'fail', 'cas', [1, 2]],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 2],
    ],
  },
  {
    name: 'a failed cas is dropped even where it could have swapped',
    valid: true,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write'],
      [0, 'invoke', 'cas', [1, 2]],
      [0, 'fail', 'cas', [1, 2]],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 1],
    ],
  },
  {
    name: 'an info cas may swap later',
    valid: true,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write'],
      [0, 'invoke', 'cas', [1, 2]],
      [0, 'info', 'cas', [1, 2]],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 1],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 2],
    ],
  },
  {
    name: 'an info cas cannot swap from a value the register no longer holds',
    valid: false,
    rows: [
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write'],
      [1, 'invoke', 'write', 3],
      [1, 'ok', 'write'],
      [0, 'invoke', 'cas', [1, 2]],
      [0, 'info', 'cas', [1, 2]],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 2],
    ],
  },
  {
    name: 'values compare as JSON, whatever the order of object keys',
    valid: true,
    rows: [
      [0, 'invoke', 'write', { a: 1, b: [1, { c: 2, d: 3 }] }],
      [0, 'ok', 'write'],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', { b: [1, { d: 3, c: 2 }], a: 1 }],
    ],
  },
  {
    name: 'nemesis ops are skipped',
    valid: true,
    rows: [
      [0, 'invoke', 'write', 1],
      ['nemesis', 'info', 'kill', 2],
      [0, 'ok', 'write'],
      ['nemesis', 'info', 'start', 2],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 1],
    ],
  },
  {
    name: "other workloads' ops are skipped",
    valid: true,
    rows: [
      [0, 'invoke', 'add', 5],
      [0, 'ok', 'add', 5],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', null],
    ],
  },
];

describe('checkRegisterLinearizability on hand-written histories', () => {
  it.each(cases)('$name', ({ rows, valid }) => {
    const result = checkRegisterLinearizability(history(rows));
    expect(result.valid).toBe(valid);
    expect(result.keys.map((key) => key.valid)).toEqual([valid]);
  });

  it('checks keys apart and names the failing one', () => {
    const result = checkRegisterLinearizability(
      history([
        [0, 'invoke', 'write', 1, 'b'],
        [0, 'ok', 'write', 1, 'b'],
        [1, 'invoke', 'read', undefined, 'a'],
        [1, 'ok', 'read', null, 'a'],
        [1, 'invoke', 'read', undefined, 'b'],
        [1, 'ok', 'read', null, 'b'],
      ]),
    );
    expect(result.valid).toBe(false);
    expect(result.keys.map(({ key, valid, opCount }) => ({ key, valid, opCount }))).toEqual([
      { key: 'a', valid: true, opCount: 1 },
      { key: 'b', valid: false, opCount: 2 },
    ]);
  });

  it('gives a short counterexample: the stale read and the write it missed', () => {
    const ops = history([
      [0, 'invoke', 'write', 1],
      [0, 'ok', 'write'],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 1],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 1],
      [0, 'invoke', 'write', 2],
      [0, 'ok', 'write'],
      [1, 'invoke', 'read'],
      [1, 'ok', 'read', 1],
    ]);
    const [verdict] = checkRegisterLinearizability(ops).keys;
    expect(verdict?.counterexample).toEqual(ops.slice(6));
  });

  it('starts every register at initialValue', () => {
    const rows: Row[] = [
      [0, 'invoke', 'read'],
      [0, 'ok', 'read', 0],
    ];
    expect(checkRegisterLinearizability(history(rows), { initialValue: 0 }).valid).toBe(true);
    expect(checkRegisterLinearizability(history(rows)).valid).toBe(false);
  });

  it('is unknown when out of time', () => {
    const ops = simulate(sampleBigPlan());
    const result = checkRegisterLinearizability(ops, { timeLimitMs: 0 });
    expect(result.valid).toBe('unknown');
    expect(result.keys[0]?.counterexample).toBeUndefined();
  });

  it('rejects a process with two ops outstanding, and a completion without invoke', () => {
    const twoOutstanding: Row[] = [
      [0, 'invoke', 'read'],
      [0, 'invoke', 'read'],
    ];
    expect(() => checkRegisterLinearizability(history(twoOutstanding))).toThrow(/while busy/);
    const orphan: Row[] = [[0, 'ok', 'read', 1]];
    expect(() => checkRegisterLinearizability(history(orphan))).toThrow(/completes no read/);
  });
});

describe('HistoryRecorder and JSONL', () => {
  it('numbers ops, stamps them with the clock and completes them through handles', () => {
    let nowNs = 100;
    const recorder = new HistoryRecorder(() => nowNs++);
    const write = recorder.invoke(1, 'write', 'k', 'v', 2);
    const read = recorder.invoke(2, 'read', 'k');
    recorder.record({ process: 'nemesis', type: 'info', f: 'kill', value: 2 });
    write.ok();
    read.info('timeout');
    expect(recorder.ops).toEqual([
      { index: 0, time: 100, process: 1, type: 'invoke', f: 'write', key: 'k', value: 'v', node: 2 },
      { index: 1, time: 101, process: 2, type: 'invoke', f: 'read', key: 'k' },
      { index: 2, time: 102, process: 'nemesis', type: 'info', f: 'kill', value: 2 },
      { index: 3, time: 103, process: 1, type: 'ok', f: 'write', key: 'k', value: 'v', node: 2 },
      { index: 4, time: 104, process: 2, type: 'info', f: 'read', key: 'k', error: 'timeout' },
    ]);
  });

  it('refuses a second op on a busy process and a second completion', () => {
    const recorder = new HistoryRecorder(() => 0);
    const read = recorder.invoke(1, 'read', 'k');
    expect(() => recorder.invoke(1, 'read', 'k')).toThrow(/outstanding/);
    read.fail('no leader');
    expect(() => read.ok(1)).toThrow(/completed twice/);
    expect(recorder.invoke(1, 'read', 'k')).toBeDefined();
  });

  it('round-trips through JSONL and names the bad line', () => {
    const ops = simulate(fc.sample(plansArbitrary(), { seed: 7, numRuns: 1 })[0]!);
    expect(parseJsonl(toJsonl(ops))).toEqual(ops);
    const badLine = '{"index":1,"time":2,"process":"x","type":"ok","f":"read"}';
    expect(() => parseJsonl(`${toJsonl(ops.slice(0, 1))}\n${badLine}\n`)).toThrow(/line 3: process/);
  });
});

// --- Histories from a real register --------------------------------------------------------
// Processes run planned ops over random overlapping intervals; each op takes effect on one
// sequential register per key at a point inside its interval (an indeterminate one maybe
// later, maybe never), so the history it records is linearizable by construction.

type Outcome = 'ok' | 'fail' | 'info' | 'lost';

interface OpPlan {
  f: 'read' | 'write' | 'cas';
  key: string;
  /** The value written, or the new value of a cas. */
  value: number;
  /** The value a cas expects. */
  expected: number | null;
  gapTime: number;
  durationTime: number;
  /** Where in its interval (or, if indeterminate, also after it) the op takes effect. */
  effectOffset: number;
  lateTime: number;
  /** ok: takes effect and is answered; fail: rejected; info: times out; lost: never answered. */
  outcome: Outcome;
  appliesIfIndeterminate: boolean;
}

interface PlanOptions {
  keys?: string[];
  processes?: { minLength: number; maxLength: number };
  opsPerProcess?: { minLength: number; maxLength: number };
  /** A lost op ends its process's history, so long runs leave it out. */
  lostWeight?: number;
}

function plansArbitrary(options: PlanOptions = {}): fc.Arbitrary<OpPlan[][]> {
  const {
    keys = ['a', 'b'],
    processes = { minLength: 1, maxLength: 5 },
    opsPerProcess = { minLength: 0, maxLength: 10 },
    lostWeight = 1,
  } = options;
  const outcome = fc.oneof(
    { arbitrary: fc.constant<Outcome>('ok'), weight: 12 },
    { arbitrary: fc.constant<Outcome>('fail'), weight: 1 },
    { arbitrary: fc.constant<Outcome>('info'), weight: 1 },
    { arbitrary: fc.constant<Outcome>('lost'), weight: lostWeight },
  );
  const plan: fc.Arbitrary<OpPlan> = fc.record({
    f: fc.constantFrom('read', 'write', 'cas'),
    key: fc.constantFrom(...keys),
    value: fc.integer({ min: 0, max: 3 }),
    expected: fc.constantFrom(null, 0, 1, 2, 3),
    gapTime: fc.nat(5),
    durationTime: fc.nat(10),
    effectOffset: fc.nat(1000),
    lateTime: fc.nat(20),
    outcome,
    appliesIfIndeterminate: fc.boolean(),
  });
  return fc.array(fc.array(plan, opsPerProcess), processes);
}

interface ScheduledOp {
  process: number;
  plan: OpPlan;
  start: number;
  end: number;
  effectAt: number | undefined;
  /** The value read, or whether a cas swapped. */
  result?: unknown;
}

function schedule(plans: OpPlan[][]): ScheduledOp[] {
  return plans.flatMap((processPlans, process) => {
    const scheduled: ScheduledOp[] = [];
    let now = 0;
    for (const plan of processPlans) {
      const start = now + plan.gapTime;
      // Effects fall strictly inside the interval, so ops that do not overlap stay in order.
      const end = start + plan.durationTime + 2;
      const indeterminate = plan.outcome === 'info' || plan.outcome === 'lost';
      const window = plan.durationTime + 1 + (indeterminate ? plan.lateTime : 0);
      const applies = plan.outcome === 'ok' || (indeterminate && plan.appliesIfIndeterminate);
      scheduled.push({
        process,
        plan,
        start,
        end,
        effectAt: applies ? start + 1 + (plan.effectOffset % window) : undefined,
      });
      if (plan.outcome === 'lost') break;
      now = end;
    }
    return scheduled;
  });
}

function applyToRegisters(ops: ScheduledOp[]): void {
  const registers = new Map<string, number | null>();
  const effects = ops.filter((op) => op.effectAt !== undefined).sort((a, b) => a.effectAt! - b.effectAt!);
  for (const op of effects) {
    const { f, key, value, expected } = op.plan;
    const current = registers.get(key) ?? null;
    if (f === 'read') op.result = current;
    if (f === 'write') registers.set(key, value);
    if (f === 'cas') {
      op.result = current === expected;
      if (current === expected) registers.set(key, value);
    }
  }
}

/** Records the planned ops through a HistoryRecorder, in time order. */
function simulate(plans: OpPlan[][]): HistoryOp[] {
  const ops = schedule(plans);
  applyToRegisters(ops);
  const events = ops.flatMap((op) => [
    { time: op.start, op, isInvoke: true },
    ...(op.plan.outcome === 'lost' ? [] : [{ time: op.end, op, isInvoke: false }]),
  ]);
  // At equal times completions go first: a process invokes its next op as the last one ends.
  events.sort((a, b) => a.time - b.time || Number(a.isInvoke) - Number(b.isInvoke));
  let nowTime = 0;
  const recorder = new HistoryRecorder(() => nowTime);
  const pending = new Map<ScheduledOp, PendingOp>();
  for (const { time, op, isInvoke } of events) {
    nowTime = time;
    const { f, key, value, expected } = op.plan;
    if (isInvoke) {
      const invokeValue = f === 'read' ? undefined : f === 'write' ? value : [expected, value];
      pending.set(op, recorder.invoke(op.process, f, key, invokeValue));
    } else {
      complete(pending.get(op)!, op);
    }
  }
  return [...recorder.ops];
}

function complete(handle: PendingOp, op: ScheduledOp): void {
  if (op.plan.outcome === 'info') handle.info('timeout');
  else if (op.plan.outcome === 'fail') handle.fail('rejected');
  else if (op.plan.f === 'read') handle.ok(op.result);
  else if (op.plan.f === 'cas' && op.result === false) handle.fail('cas mismatch');
  else handle.ok();
}

/** Replaces the value of one ok read (chosen by `choice`) with one never written. */
function corruptOneRead(
  ops: HistoryOp[],
  choice: number,
): { corrupted: HistoryOp[]; read: HistoryOp } | undefined {
  const okReads = ops.filter((op) => op.type === 'ok' && op.f === 'read');
  if (okReads.length === 0) return undefined;
  const read = { ...okReads[choice % okReads.length]!, value: 'never written' };
  return { corrupted: ops.map((op) => (op.index === read.index ? read : op)), read };
}

/** Gives every write and cas a new value of its own, as a workload with unique writes does. */
function withUniqueValues(plans: OpPlan[][]): OpPlan[][] {
  let nextValue = 10;
  return plans.map((ops) => ops.map((op) => ({ ...op, value: nextValue++ })));
}

/**
 * Makes one ok read (chosen by `choice`) return the value of a write W1 that was followed by a
 * write W2 in real time, with W2 done before the read began. With unique values nothing else
 * wrote W1's value, so the read is stale.
 */
function makeOneReadStale(
  ops: HistoryOp[],
  choice: number,
): { stale: HistoryOp[]; read: HistoryOp } | undefined {
  const writes = completedWrites(ops);
  const candidates = ops.flatMap((read) => {
    if (read.type !== 'ok' || read.f !== 'read') return [];
    const readInvoke = findLast(ops, (op) => op.process === read.process && op.index < read.index)!;
    const sameKey = writes.filter((write) => write.key === read.key);
    const laterWrite = findLast(sameKey, (write) => write.okIndex < readInvoke.index);
    const overwritten = findLast(
      sameKey,
      (write) => laterWrite !== undefined && write.okIndex < laterWrite.invokeIndex,
    );
    return overwritten ? [{ ...read, value: overwritten.value }] : [];
  });
  if (candidates.length === 0) return undefined;
  const read = candidates[choice % candidates.length]!;
  return { stale: ops.map((op) => (op.index === read.index ? read : op)), read };
}

interface CompletedWrite {
  key: string | undefined;
  invokeIndex: number;
  okIndex: number;
  value: unknown;
}

function completedWrites(ops: HistoryOp[]): CompletedWrite[] {
  const invokeIndexOf = new Map<HistoryOp['process'], number>();
  return ops.flatMap((op) => {
    if (op.type === 'invoke') invokeIndexOf.set(op.process, op.index);
    if (op.type !== 'ok' || op.f !== 'write') return [];
    return [{ key: op.key, invokeIndex: invokeIndexOf.get(op.process)!, okIndex: op.index, value: op.value }];
  });
}

function sampleBigPlan(): OpPlan[][] {
  const big = plansArbitrary({
    keys: ['a'],
    processes: { minLength: 10, maxLength: 10 },
    opsPerProcess: { minLength: 300, maxLength: 300 },
    lostWeight: 0,
  });
  return fc.sample(big, { seed: 1, numRuns: 1 })[0]!;
}

describe('checkRegisterLinearizability on histories of a real register', () => {
  it('finds them linearizable', () => {
    fc.assert(
      fc.property(plansArbitrary(), (plans) => {
        const result = checkRegisterLinearizability(simulate(plans));
        expect(result.valid).toBe(true);
      }),
    );
  });

  it('finds them not linearizable once one read returns a value never written', () => {
    fc.assert(
      fc.property(plansArbitrary(), fc.nat(), (plans, choice) => {
        const corruption = corruptOneRead(simulate(plans), choice);
        fc.pre(corruption !== undefined);
        const result = checkRegisterLinearizability(corruption.corrupted);
        expect(result.valid).toBe(false);
        // The counterexample is where the longest partial order got stuck: ops of this key that
        // cannot be ordered, not always the planted read itself (another order may stop earlier).
        const verdict = result.keys.find((key) => key.key === corruption.read.key);
        expect(verdict?.counterexample?.length).toBeGreaterThan(0);
        for (const op of verdict?.counterexample ?? []) expect(op.key).toBe(corruption.read.key);
      }),
    );
  });

  it('finds them not linearizable once one read returns an overwritten value', () => {
    fc.assert(
      fc.property(plansArbitrary(), fc.nat(), (plans, choice) => {
        const staleness = makeOneReadStale(simulate(withUniqueValues(plans)), choice);
        fc.pre(staleness !== undefined);
        const result = checkRegisterLinearizability(staleness.stale);
        expect(result.valid).toBe(false);
        // The counterexample is where the longest partial order got stuck: ops of this key that
        // cannot be ordered, not always the planted read itself (another order may stop earlier).
        const verdict = result.keys.find((key) => key.key === staleness.read.key);
        expect(verdict?.counterexample?.length).toBeGreaterThan(0);
        for (const op of verdict?.counterexample ?? []) expect(op.key).toBe(staleness.read.key);
      }),
    );
  });

  // Proving a violation means exhausting every partial linearization before it; with few
  // distinct values and many indeterminate ops that can take exponential time (the same holds
  // for Knossos and Porcupine), so the violations here use unique values, as workloads should.
  it('decides a few thousand ops from ten processes quickly', () => {
    const fewValues = simulate(sampleBigPlan());
    const uniqueValues = simulate(withUniqueValues(sampleBigPlan()));
    expect(uniqueValues.length).toBeGreaterThan(5000);
    const startedMs = performance.now();
    expect(checkRegisterLinearizability(fewValues).valid).toBe(true);
    expect(checkRegisterLinearizability(uniqueValues).valid).toBe(true);
    for (const choice of [1, 1000, 2000]) {
      expect(checkRegisterLinearizability(corruptOneRead(uniqueValues, choice)!.corrupted).valid).toBe(false);
      expect(checkRegisterLinearizability(makeOneReadStale(uniqueValues, choice)!.stale).valid).toBe(false);
    }
    expect(performance.now() - startedMs).toBeLessThan(8000);
  });
});

// --- Against brute force -------------------------------------------------------------------
// Small arbitrary histories, mostly not linearizable, checked against trying every order.

const randomStepArbitrary = fc.record({
  process: fc.nat(2),
  f: fc.constantFrom('read', 'write', 'cas'),
  value: fc.constantFrom(1, 2),
  expected: fc.constantFrom(null, 1, 2),
  readValue: fc.constantFrom(null, 1, 2),
  outcome: fc.constantFrom<OpType>('ok', 'fail', 'info'),
});
type RandomStep = typeof randomStepArbitrary extends fc.Arbitrary<infer Step> ? Step : never;

/** A step invokes its process's next op, or completes the outstanding one as that op said. */
function randomHistory(steps: RandomStep[]): HistoryOp[] {
  let index = 0;
  const recorder = new HistoryRecorder(() => index++);
  const outstanding = new Map<number, { handle: PendingOp; step: RandomStep }>();
  for (const step of steps) {
    const busy = outstanding.get(step.process);
    if (busy === undefined) {
      const invokeValue = { read: undefined, write: step.value, cas: [step.expected, step.value] }[step.f];
      outstanding.set(step.process, {
        handle: recorder.invoke(step.process, step.f, 'k', invokeValue),
        step,
      });
      continue;
    }
    outstanding.delete(step.process);
    const { handle, step: invoked } = busy;
    if (invoked.outcome === 'fail') handle.fail('rejected');
    else if (invoked.outcome === 'info') handle.info('timeout');
    else handle.ok(invoked.f === 'read' ? invoked.readValue : undefined);
  }
  return [...recorder.ops];
}

interface BruteForceOp {
  invoke: HistoryOp;
  completion: HistoryOp | undefined;
}

/** Tries every order that respects real time; indeterminate ops may also never happen. */
function bruteForceLinearizable(ops: HistoryOp[]): boolean {
  const paired: BruteForceOp[] = [];
  for (const op of ops) {
    if (op.type === 'invoke') paired.push({ invoke: op, completion: undefined });
    else findLast(paired, (candidate) => candidate.invoke.process === op.process)!.completion = op;
  }
  const mayHaveHappened = paired.filter(
    ({ invoke, completion }) =>
      completion?.type !== 'fail' && (invoke.f !== 'read' || completion?.type === 'ok'),
  );
  return canOrder(mayHaveHappened, null);
}

function canOrder(remaining: BruteForceOp[], value: unknown): boolean {
  if (remaining.every((op) => op.completion?.type !== 'ok')) return true;
  return remaining.some((op) => {
    const mustWait = remaining.some(
      (other) => (other.completion?.type === 'ok' ? other.completion.index : Infinity) < op.invoke.index,
    );
    if (mustWait) return false;
    const rest = remaining.filter((other) => other !== op);
    if (op.completion?.type !== 'ok' && canOrder(rest, value)) return true;
    const { f, value: invokeValue } = op.invoke;
    if (f === 'write') return canOrder(rest, invokeValue);
    if (f === 'read') return op.completion?.value === value && canOrder(rest, value);
    const [expected, next] = invokeValue as [unknown, unknown];
    return expected === value && canOrder(rest, next);
  });
}

describe('checkRegisterLinearizability against brute force', () => {
  it('agrees on small random histories', () => {
    fc.assert(
      fc.property(fc.array(randomStepArbitrary, { maxLength: 16 }), (steps) => {
        const ops = randomHistory(steps);
        const result = checkRegisterLinearizability(ops);
        expect(result.valid).toBe(bruteForceLinearizable(ops));
        for (const op of result.keys[0]?.counterexample ?? []) expect(ops).toContainEqual(op);
      }),
      { numRuns: 2000 },
    );
  });
});

/** Array.prototype.findLast arrives with ES2023; the project targets ES2022. */
function findLast<T>(items: readonly T[], matches: (item: T) => boolean): T | undefined {
  for (let i = items.length - 1; i >= 0; i--) if (matches(items[i]!)) return items[i];
  return undefined;
}
