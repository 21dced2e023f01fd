// Times a failover pressed on the dashboard: from the fault on the leader to the first new leader
// the poller sees, and to the first acknowledged write that was SENT after the fault (a write sent
// before it may have committed on the old leader, so it proves nothing about recovery).
import { type EventLog, formatClock } from './event-log.js';
import type { LeaderSeen } from './status-poller.js';

export type LeaderFault = 'killed' | 'paused' | 'isolated';

export interface Failover {
  fault: LeaderFault;
  oldLeaderId: number;
  oldTerm: number;
  faultAtMs: number;
  newLeaderId: number | null;
  newLeaderAtMs: number | null;
  /** When the first write sent after the fault was acknowledged. */
  writesResumedAtMs: number | null;
  state: 'waiting' | 'recovered' | 'gave up';
  summary: string;
}

/** Failovers listed on the page; older ones are dropped. */
export const failoversKept = 50;
/** A failover not over by then is reported as such and no longer waited for. */
export const failoverWaitMsMax = 60_000;

export class FailoverClock {
  private readonly failovers: Failover[] = [];
  private open: Failover | null = null;
  private giveUpTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly events: EventLog,
    private readonly isLoadRunning: () => boolean,
  ) {}

  list(): readonly Failover[] {
    return this.failovers;
  }

  /** A fault hit the leader: starts timing (a failover still open is replaced). */
  leaderFaulted(fault: LeaderFault, leader: LeaderSeen, atMs: number): void {
    if (this.open) this.finish(this.open, 'gave up');
    const failover: Failover = {
      fault,
      oldLeaderId: leader.id,
      oldTerm: leader.term,
      faultAtMs: atMs,
      newLeaderId: null,
      newLeaderAtMs: null,
      writesResumedAtMs: null,
      state: 'waiting',
      summary: '',
    };
    failover.summary = summarize(failover, this.isLoadRunning());
    this.open = failover;
    this.failovers.push(failover);
    if (this.failovers.length > failoversKept) this.failovers.shift();
    this.giveUpTimer = setTimeout(() => this.finish(failover, 'gave up'), failoverWaitMsMax);
    this.giveUpTimer.unref();
  }

  leaderSeen(leader: LeaderSeen, atMs: number): void {
    const failover = this.open;
    if (!failover || failover.newLeaderId !== null || leader.term <= failover.oldTerm) return;
    failover.newLeaderId = leader.id;
    failover.newLeaderAtMs = atMs;
    this.finishIfDone(failover);
  }

  writeAcknowledged(startedAtMs: number, ackedAtMs: number): void {
    const failover = this.open;
    if (!failover || failover.writesResumedAtMs !== null || startedAtMs < failover.faultAtMs) return;
    failover.writesResumedAtMs = ackedAtMs;
    this.finishIfDone(failover);
  }

  close(): void {
    clearTimeout(this.giveUpTimer);
  }

  private finishIfDone(failover: Failover): void {
    const loadRunning = this.isLoadRunning();
    failover.summary = summarize(failover, loadRunning);
    const writesKnown = failover.writesResumedAtMs !== null || !loadRunning;
    if (failover.newLeaderId !== null && writesKnown) this.finish(failover, 'recovered');
  }

  private finish(failover: Failover, state: 'recovered' | 'gave up'): void {
    if (failover !== this.open) return;
    clearTimeout(this.giveUpTimer);
    this.open = null;
    failover.state = state;
    failover.summary = summarize(failover, this.isLoadRunning());
    if (state === 'gave up') failover.summary += ' (not recovered: no longer timed)';
    this.events.add('failover', failover.summary, failover.newLeaderId ?? failover.oldLeaderId);
  }
}

/** "leader 3 killed at 12:01:03.120, new leader 5 at 12:01:03.640, writes resumed after 612 ms" */
export function summarize(failover: Failover, loadRunning: boolean): string {
  const parts = [`leader ${failover.oldLeaderId} ${failover.fault} at ${formatClock(failover.faultAtMs)}`];
  parts.push(
    failover.newLeaderAtMs === null
      ? 'no new leader yet'
      : `new leader ${failover.newLeaderId} at ${formatClock(failover.newLeaderAtMs)}`,
  );
  if (failover.writesResumedAtMs !== null)
    parts.push(`writes resumed after ${failover.writesResumedAtMs - failover.faultAtMs} ms`);
  else parts.push(loadRunning ? 'writes not resumed yet' : 'write load off');
  return parts.join(', ');
}
