// Time for the node runtime. The pure core never reads a clock: the driver turns monotonic
// time into ticks, and the leader's log-time stamps (design.md §3) come from LogClock.
import { assert } from '../assert.js';

export interface Clock {
  /** Milliseconds on a clock that never jumps (for ticks, leases, timeouts). */
  monotonicMs(): number;
  /** Milliseconds since the epoch, as the machine's wall clock says (may jump). */
  wallMs(): number;
}

export const systemClock: Clock = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
};

/** A clock that moves only when told (tests and the simulator). */
export class ManualClock implements Clock {
  constructor(
    private monotonic = 0,
    private wallOffsetMs = 1_700_000_000_000,
  ) {}

  monotonicMs(): number {
    return this.monotonic;
  }

  wallMs(): number {
    return this.monotonic + this.wallOffsetMs;
  }

  advance(ms: number): void {
    assert(ms >= 0, 'a monotonic clock never goes back');
    this.monotonic += ms;
  }

  /** Jumps the wall clock (the monotonic clock is untouched). */
  jumpWall(ms: number): void {
    this.wallOffsetMs += ms;
  }
}

/**
 * A wrapper that injects clock faults (design.md §9): a wall-clock offset and a monotonic
 * rate. Used only with --enable-fault-injection.
 */
export class SkewedClock implements Clock {
  private offsetMs = 0;
  private rate = 1;
  private baseReal: number;
  private baseSkewed: number;

  constructor(private readonly inner: Clock) {
    this.baseReal = inner.monotonicMs();
    this.baseSkewed = this.baseReal;
  }

  monotonicMs(): number {
    return this.baseSkewed + (this.inner.monotonicMs() - this.baseReal) * this.rate;
  }

  wallMs(): number {
    return this.inner.wallMs() + this.offsetMs;
  }

  setFaults(faults: { clockOffsetMs?: number; clockRate?: number }): void {
    if (faults.clockOffsetMs !== undefined) this.offsetMs = faults.clockOffsetMs;
    if (faults.clockRate !== undefined) {
      assert(faults.clockRate > 0, 'clock rate must be positive');
      this.baseSkewed = this.monotonicMs();
      this.baseReal = this.inner.monotonicMs();
      this.rate = faults.clockRate;
    }
  }
}

/** The fastest log time may run while it catches up with a wall clock that is ahead. */
export const logTimeCatchUpRate = 1.1;

/**
 * Log time (design.md §3): follows the monotonic clock from the last stamp this node knows,
 * runs at most `logTimeCatchUpRate` times faster while the wall clock is ahead, ignores a wall
 * clock that is behind, and never goes backwards.
 */
export class LogClock {
  private lastStampMs: number;
  private lastMonotonicMs: number;

  constructor(
    private readonly clock: Clock,
    knownStampMs: number,
  ) {
    // A brand-new cluster has no stamp yet: its log time starts at the wall clock.
    this.lastStampMs = knownStampMs > 0 ? knownStampMs : clock.wallMs();
    this.lastMonotonicMs = clock.monotonicMs();
  }

  /** A stamp from the log (applied entry): log time is at least this from now on. */
  observe(stampMs: number): void {
    if (stampMs > this.nowMs()) {
      this.lastStampMs = stampMs;
      this.lastMonotonicMs = this.clock.monotonicMs();
    }
  }

  nowMs(): number {
    const monotonic = this.clock.monotonicMs();
    const elapsed = Math.max(0, monotonic - this.lastMonotonicMs);
    const following = this.lastStampMs + elapsed;
    const wall = this.clock.wallMs();
    if (wall <= following) return following;
    return Math.min(wall, this.lastStampMs + elapsed * logTimeCatchUpRate);
  }

  /** The stamp for new entries; also moves the reference point forward. */
  stampMs(): number {
    const now = Math.floor(this.nowMs());
    this.lastStampMs = now;
    this.lastMonotonicMs = this.clock.monotonicMs();
    return now;
  }
}
