// The nemesis loop: quiet, one fault, heal, quiet, ... until the fault phase ends. One fault is
// in force at a time, each for a bounded time, at most `faultsMax` in a run, and the one in force
// when the phase ends (or the run is interrupted) is always healed. Every start and stop goes
// into the history as a `nemesis` op (design.md §6), which the report shades and checkers skip.
import { sleepUnlessAborted } from '../abortable-sleep.js';
import type { HistoryRecorder } from '../history.js';
import type { ActiveFault, Nemesis, NemesisContext } from './nemesis.js';

export interface FaultTiming {
  /** Healthy time before each fault. */
  quietMsMin: number;
  quietMsMax: number;
  /** How long each fault lasts (cut short when the fault phase ends). */
  faultMsMin: number;
  faultMsMax: number;
  /** Faults in one run. */
  faultsMax: number;
}

/**
 * Each quiet spell lasts 0.5 to 1.5 times the interval (Jepsen's --nemesis-interval), each fault
 * 0.5 to 1.5 times its duration.
 */
export function faultTimingOf(
  nemesisIntervalS: number,
  faultDurationS: number,
  faultsMax: number,
): FaultTiming {
  const quietMs = nemesisIntervalS * 1000;
  const faultMs = faultDurationS * 1000;
  return {
    quietMsMin: quietMs / 2,
    quietMsMax: (quietMs * 3) / 2,
    faultMsMin: faultMs / 2,
    faultMsMax: (faultMs * 3) / 2,
    faultsMax,
  };
}

export interface FaultScheduleOptions {
  nemeses: readonly Nemesis[];
  context: NemesisContext;
  recorder: HistoryRecorder;
  /** performance.now() at which the fault phase ends: no fault starts later, the last is healed. */
  endsAtMs: number;
  timing: FaultTiming;
  /** Ends the phase early (Ctrl-C): the fault in force is healed at once. */
  signal: AbortSignal;
  /** Told when a fault starts (with it) and when it is healed (with undefined). */
  onFault?: (nemesis: Nemesis, fault: ActiveFault | undefined) => void;
}

export interface FaultScheduleSummary {
  faults: number;
  /** Faults that could not be injected or healed completely, with why. */
  errors: string[];
}

export async function runFaultSchedule(options: FaultScheduleOptions): Promise<FaultScheduleSummary> {
  const { nemeses, context, timing, signal } = options;
  const summary: FaultScheduleSummary = { faults: 0, errors: [] };
  const remainingMs = () => options.endsAtMs - performance.now();
  while (nemeses.length > 0 && summary.faults < timing.faultsMax && !signal.aborted) {
    await sleepUnlessAborted(context.random.between(timing.quietMsMin, timing.quietMsMax), signal);
    if (signal.aborted || remainingMs() <= 0) break;
    summary.faults += 1;
    await injectOne(options, context.random.pick(nemeses), summary);
  }
  return summary;
}

/** Starts one fault, holds it, heals it; each step recorded, failures recorded and survived. */
async function injectOne(options: FaultScheduleOptions, nemesis: Nemesis, summary: FaultScheduleSummary) {
  const { recorder, context, timing, signal } = options;
  const fault = summary.faults;
  const record = (value: Record<string, unknown>) =>
    recorder.record({ process: 'nemesis', type: 'info', f: nemesis.f, value: { fault, ...value } });
  let active: ActiveFault;
  try {
    active = await nemesis.start(context);
  } catch (error) {
    const message = `${nemesis.name}: ${(error as Error).message}`;
    summary.errors.push(message);
    record({ phase: 'start', error: message });
    return;
  }
  const described = { target: active.target, nodes: active.nodes };
  record({ ...described, phase: 'start', ...(active.error === undefined ? {} : { error: active.error }) });
  if (active.error !== undefined) summary.errors.push(`${nemesis.f} (${active.target}): ${active.error}`);
  options.onFault?.(nemesis, active);
  const faultMs = context.random.between(timing.faultMsMin, timing.faultMsMax);
  await sleepUnlessAborted(Math.min(faultMs, options.endsAtMs - performance.now()), signal);
  const healError = await active.heal().catch((error: Error) => error.message);
  options.onFault?.(nemesis, undefined);
  if (healError !== undefined) summary.errors.push(`healing ${nemesis.f} (${active.target}): ${healError}`);
  record({ ...described, phase: 'stop', ...(healError === undefined ? {} : { error: healError }) });
}
