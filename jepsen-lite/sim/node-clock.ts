// Each simulated node's own sense of time. Its monotonic clock runs at a rate a little off
// virtual time (within the drift bound that leases assume), its ticks fall every tickMs of
// that clock, and its wall clock is the monotonic clock plus an offset the nemesis may bump.
// Log-time stamps follow design.md §3: they track the monotonic clock and never go back.
import { assert } from '../../src/assert.js';

/**
 * How fast log time may run to catch up with a wall clock that is ahead (design.md §3).
 * config.ts has no such setting yet; when the node runtime gets one, this should read it.
 */
export const logTimeCatchUpRate = 1.1;

/**
 * Slack added when scheduling the next tick, so floating-point rounding cannot place the
 * event a hair before the tick boundary (which would schedule the same instant forever).
 */
const tickBoundarySlackMs = 1e-6;

export class NodeClock {
  /** Wall clock minus monotonic clock; the nemesis bumps it to model a stepped system clock. */
  wallOffsetMs = 0;

  constructor(
    /** Monotonic ms per virtual ms, e.g. 1.004. */
    private readonly rate: number,
    /** Where in a tick period this node's monotonic clock starts, so nodes do not tick in lockstep. */
    private readonly phaseMs: number,
    private readonly tickMs: number,
  ) {
    assert(rate > 0 && tickMs > 0, 'clock rate and tick length must be positive');
  }

  monotonicMs(virtualMs: number): number {
    return virtualMs * this.rate + this.phaseMs;
  }

  wallMs(virtualMs: number): number {
    return this.monotonicMs(virtualMs) + this.wallOffsetMs;
  }

  /** Ticks due since the monotonic clock's origin: the tick count a node running on time has done. */
  ticksDue(virtualMs: number): number {
    return Math.floor(this.monotonicMs(virtualMs) / this.tickMs);
  }

  /** The virtual time of the first tick boundary after `virtualMs`. */
  nextTickVirtualMs(virtualMs: number): number {
    const nextTick = this.ticksDue(virtualMs) + 1;
    return (nextTick * this.tickMs - this.phaseMs) / this.rate + tickBoundarySlackMs;
  }
}

/** A node's log-time rule: the last stamp it knows, and the monotonic instant it learnt it. */
export class LogTime {
  private lastStampMs = 0;
  private learntAtMonotonicMs = 0;

  /** Remembers a stamp seen in the log (an entry persisted, proposed, or loaded at restart). */
  observe(stampMs: number, monotonicMs: number): void {
    if (stampMs <= this.lastStampMs) return;
    this.lastStampMs = stampMs;
    this.learntAtMonotonicMs = monotonicMs;
  }

  /**
   * The stamp for a new entry: the last stamp plus monotonic time elapsed since; a wall clock
   * ahead of that pulls it forward at most logTimeCatchUpRate as fast; a wall clock behind is
   * ignored. Whole ms, never below the last stamp.
   */
  next(monotonicMs: number, wallMs: number): number {
    const elapsedMs = Math.max(0, monotonicMs - this.learntAtMonotonicMs);
    const following = this.lastStampMs + elapsedMs;
    const stamp =
      wallMs > following ? Math.min(wallMs, this.lastStampMs + logTimeCatchUpRate * elapsedMs) : following;
    return Math.floor(stamp);
  }
}
