// Views of a history that the report draws from: fault windows from the nemesis's start/stop
// ops, and client ops counted by outcome.
import type { ClientCall } from '../client-calls.js';
import type { HistoryOp } from '../history.js';

export interface FaultWindow {
  fault: number;
  f: string;
  target: string;
  startNs: number;
  /** Absent when the history ends with the fault in force. */
  stopNs: number | undefined;
  errors: string[];
}

interface NemesisValue {
  fault?: number;
  phase?: string;
  target?: string;
  error?: string;
}

export function faultWindows(history: readonly HistoryOp[]): FaultWindow[] {
  const windows = new Map<number, FaultWindow>();
  for (const op of history) {
    if (op.process !== 'nemesis') continue;
    const value = (op.value ?? {}) as NemesisValue;
    const fault = value.fault ?? windows.size;
    let window = windows.get(fault);
    if (!window) {
      window = {
        fault,
        f: op.f,
        target: value.target ?? '',
        startNs: op.time,
        stopNs: undefined,
        errors: [],
      };
      windows.set(fault, window);
    }
    if (value.phase === 'stop') window.stopNs = op.time;
    if (value.error !== undefined) window.errors.push(value.error);
  }
  return [...windows.values()];
}

export interface OpCounts {
  ok: number;
  fail: number;
  info: number;
  /** Invoked, not completed. */
  pending: number;
}

export function countOutcomes(calls: readonly ClientCall[]): OpCounts {
  const counts: OpCounts = { ok: 0, fail: 0, info: 0, pending: 0 };
  for (const call of calls) {
    const type = call.completion?.type;
    if (type === 'ok' || type === 'fail' || type === 'info') counts[type] += 1;
    else counts.pending += 1;
  }
  return counts;
}
