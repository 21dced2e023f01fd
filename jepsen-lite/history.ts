// The history format of design.md §6: one op per line, shared by the simulator, the
// real-cluster tests and jepsen-lite, and read by every checker in ./checkers.
import { assert } from '../src/assert.js';

/** `info` means indeterminate: the op may or may not have taken effect (timeout, crash). */
export type OpType = 'invoke' | 'ok' | 'fail' | 'info';

export interface HistoryOp {
  /** Position in the history; the recorder numbers ops in the order they happened. */
  index: number;
  /** Nanoseconds since the run started. */
  time: number;
  /** A client process, or 'nemesis' for injected faults (checkers skip those). */
  process: number | 'nemesis';
  type: OpType;
  /** 'read' | 'write' | 'cas' | ... for clients, 'kill' | 'pause' | 'partition' | ... for the nemesis. */
  f: string;
  key?: string;
  /** For cas, `[expected, new]`; a read of an absent key is `null`. */
  value?: unknown;
  /** The node the request was sent to. */
  node?: number;
  error?: string;
}

/** An op that was invoked and has not completed yet; each method records its completion. */
export interface PendingOp {
  /** Records success; `value` defaults to the invoke's value (reads pass the value read). */
  ok(value?: unknown): HistoryOp;
  /** Records that the op certainly did not take effect. */
  fail(error: string): HistoryOp;
  /** Records that the outcome is unknown: the op may take effect, now or later, or never. */
  info(error?: string): HistoryOp;
}

type OpFields = Omit<HistoryOp, 'index' | 'time'>;

export class HistoryRecorder {
  private readonly recorded: HistoryOp[] = [];
  /** Processes with an op outstanding: checkers rely on there being at most one per process. */
  private readonly busyProcesses = new Set<number>();

  /** `clockNs` returns nanoseconds since the run started. */
  constructor(private readonly clockNs: () => number) {}

  /** The ops recorded so far, in the order they happened. */
  get ops(): readonly HistoryOp[] {
    return this.recorded;
  }

  /** Appends an op as it happens, e.g. a nemesis fault; client requests go through invoke(). */
  record(fields: OpFields): HistoryOp {
    const op = withoutUndefinedFields({ index: this.recorded.length, time: this.clockNs(), ...fields });
    this.recorded.push(op);
    return op;
  }

  invoke(process: number, f: string, key?: string, value?: unknown, node?: number): PendingOp {
    assert(!this.busyProcesses.has(process), () => `process ${process} already has an op outstanding`);
    this.busyProcesses.add(process);
    this.record({ process, type: 'invoke', f, key, value, node });
    let completed = false;
    const complete = (type: OpType, fields: Partial<OpFields>): HistoryOp => {
      assert(!completed, () => `process ${process}: ${f} completed twice`);
      completed = true;
      this.busyProcesses.delete(process);
      return this.record({ process, type, f, key, value, node, ...fields });
    };
    return {
      ok: (result?: unknown) => complete('ok', result === undefined ? {} : { value: result }),
      fail: (error: string) => complete('fail', { error }),
      info: (error?: string) => complete('info', { error }),
    };
  }
}

export function toJsonl(ops: readonly HistoryOp[]): string {
  return ops.map((op) => `${JSON.stringify(op)}\n`).join('');
}

export function parseJsonl(text: string): HistoryOp[] {
  const ops: HistoryOp[] = [];
  text.split('\n').forEach((line, lineIndex) => {
    if (line.trim() !== '') ops.push(parseHistoryOp(line, lineIndex + 1));
  });
  return ops;
}

const opTypes: readonly string[] = ['invoke', 'ok', 'fail', 'info'] satisfies OpType[];

function parseHistoryOp(line: string, lineNumber: number): HistoryOp {
  const fail = (why: string): never => {
    throw new Error(`history line ${lineNumber}: ${why}`);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    fail(`not JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail('not a JSON object');
  const op = parsed as Record<string, unknown>;
  if (!Number.isInteger(op.index)) fail('index must be an integer');
  if (typeof op.time !== 'number') fail('time must be a number');
  if (!Number.isInteger(op.process) && op.process !== 'nemesis')
    fail('process must be an integer or "nemesis"');
  if (typeof op.type !== 'string' || !opTypes.includes(op.type)) fail(`type must be one of ${opTypes}`);
  if (typeof op.f !== 'string') fail('f must be a string');
  if (op.key !== undefined && typeof op.key !== 'string') fail('key must be a string');
  if (op.node !== undefined && !Number.isInteger(op.node)) fail('node must be an integer');
  if (op.error !== undefined && typeof op.error !== 'string') fail('error must be a string');
  return op as unknown as HistoryOp;
}

/** Leaves absent fields out, so an op equals its own JSON round trip. */
function withoutUndefinedFields(op: HistoryOp): HistoryOp {
  return Object.fromEntries(Object.entries(op).filter(([, value]) => value !== undefined)) as HistoryOp;
}
