// A fast, sound (never a false alarm) but incomplete register check that runs beside the full
// linearizability search: a read that returns a value which real time proves was already
// overwritten. With unique values, if the write of v completed before another write W2 (which
// succeeded) was even invoked, and W2 completed before the read was invoked, then every
// linearization puts v, then W2, then the read: the read cannot return v. The same holds for
// a read of the initial null after any write completed before the read began.
//
// The full search decides every history in principle, but indeterminate ops on a busy key can
// make it run out of time exactly when a bug is there to be found; this check gives the common
// symptom of a stale read or a lost write, with a three-op counterexample, in O(n log n).
import { clientCalls } from '../client-calls.js';
import type { HistoryOp } from '../history.js';
import type { CheckerResult } from './verdict.js';

interface Write {
  invoke: HistoryOp;
  completion: HistoryOp;
}

/** For one key: of the successful writes completed before a time, the one invoked latest. */
class LatestInvokedBefore {
  private readonly completionTimes: number[];
  /** prefixLatest[i]: among the writes completed i-th or earlier, the one invoked last. */
  private readonly prefixLatest: Write[];

  constructor(writes: Write[]) {
    const byCompletion = [...writes].sort((a, b) => a.completion.time - b.completion.time);
    this.completionTimes = byCompletion.map((write) => write.completion.time);
    this.prefixLatest = [];
    for (const write of byCompletion) {
      const previous = this.prefixLatest.at(-1);
      this.prefixLatest.push(previous && previous.invoke.time > write.invoke.time ? previous : write);
    }
  }

  /** The write invoked latest among those completed strictly before `time`. */
  before(time: number): Write | undefined {
    let low = 0;
    let high = this.completionTimes.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.completionTimes[middle]! < time) low = middle + 1;
      else high = middle;
    }
    return low === 0 ? undefined : this.prefixLatest[low - 1];
  }
}

const writeFunctions: ReadonlySet<string> = new Set(['write', 'cas']);

function writtenValue(op: HistoryOp): unknown {
  return op.f === 'cas' && Array.isArray(op.value) ? op.value[1] : op.value;
}

export function checkStaleReads(history: readonly HistoryOp[]): CheckerResult {
  const calls = clientCalls(history).filter((call) => call.completion?.type === 'ok');
  const okWrites = calls.filter((call) => writeFunctions.has(call.invoke.f)) as Write[];
  const reads = calls.filter((call) => call.invoke.f === 'read') as Write[];
  const writesByKey = new Map<string | undefined, Write[]>();
  const writeOfValue = new Map<string, Write>();
  for (const write of okWrites) {
    writesByKey.set(write.invoke.key, [...(writesByKey.get(write.invoke.key) ?? []), write]);
    writeOfValue.set(`${write.invoke.key}\u0000${JSON.stringify(writtenValue(write.invoke))}`, write);
  }
  const indexes = new Map([...writesByKey].map(([key, writes]) => [key, new LatestInvokedBefore(writes)]));
  let staleCount = 0;
  let first: { read: Write; source: Write | undefined; overwrite: Write } | undefined;
  for (const read of reads) {
    const value = read.completion.value ?? null;
    const source = writeOfValue.get(`${read.invoke.key}\u0000${JSON.stringify(value)}`);
    if (value !== null && source === undefined) continue;
    const overwrite = indexes.get(read.invoke.key)?.before(read.invoke.time);
    if (!overwrite || overwrite === source) continue;
    if (source && overwrite.invoke.time <= source.completion.time) continue;
    staleCount += 1;
    if (!first || read.invoke.index < first.read.invoke.index) first = { read, source, overwrite };
  }
  const scope = `${reads.length} ok reads against ${okWrites.length} ok writes`;
  if (!first)
    return {
      checker: 'stale-read',
      valid: true,
      summary: `${scope}: no read of a value already overwritten`,
    };
  const { read, source, overwrite } = first;
  const what = source ? `the value ${JSON.stringify(read.completion.value)}` : 'nothing (null)';
  return {
    checker: 'stale-read',
    valid: false,
    summary: `${scope}: ${staleCount} reads returned a value that had already been overwritten`,
    details: { staleCount },
    counterexample: {
      description: `Read #${read.invoke.index} on node ${read.invoke.node} of ${read.invoke.key} began after write #${overwrite.invoke.index} of ${JSON.stringify(writtenValue(overwrite.invoke))} completed${source ? `, which itself began after the write of ${JSON.stringify(read.completion.value)} completed` : ''}, yet it returned ${what}.`,
      ops: [source, overwrite, read]
        .flatMap((call) => (call ? [call.invoke, call.completion] : []))
        .sort((a, b) => a.index - b.index),
    },
  };
}
