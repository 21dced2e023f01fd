// Client ops paired with their completions: what checkers and the report reason about.
import type { HistoryOp } from './history.js';

export interface ClientCall {
  invoke: HistoryOp;
  /** Absent when the op never completed (the run ended first). */
  completion: HistoryOp | undefined;
}

export function clientCalls(history: readonly HistoryOp[]): ClientCall[] {
  const calls: ClientCall[] = [];
  const outstanding = new Map<number, ClientCall>();
  for (const op of history) {
    if (op.process === 'nemesis') continue;
    if (op.type === 'invoke') {
      const call = { invoke: op, completion: undefined };
      calls.push(call);
      outstanding.set(op.process, call);
    } else {
      const call = outstanding.get(op.process);
      if (call) call.completion = op;
      outstanding.delete(op.process);
    }
  }
  return calls;
}
