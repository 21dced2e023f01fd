import { describe, expect, it } from 'vitest';
import { LogClock, logTimeCatchUpRate, ManualClock, SkewedClock } from './clock.js';

describe('LogClock (design.md §3)', () => {
  it('a new cluster starts at the wall clock, then follows the monotonic clock', () => {
    const clock = new ManualClock(0, 1_000_000);
    const logClock = new LogClock(clock, 0);
    expect(logClock.nowMs()).toBe(1_000_000);
    clock.advance(500);
    expect(logClock.nowMs()).toBe(1_000_500);
  });

  it('ignores a wall clock that jumps back, and never stamps backwards', () => {
    const clock = new ManualClock(0, 1_000_000);
    const logClock = new LogClock(clock, 0);
    clock.advance(100);
    const first = logClock.stampMs();
    clock.jumpWall(-3_600_000);
    clock.advance(100);
    const second = logClock.stampMs();
    expect(second).toBe(first + 100);
  });

  it('catches up with a wall clock that is ahead at most 1.1x as fast', () => {
    const clock = new ManualClock(0, 1_000_000);
    const logClock = new LogClock(clock, 0);
    clock.jumpWall(3_600_000);
    clock.advance(1_000);
    expect(logClock.nowMs()).toBe(1_000_000 + 1_000 * logTimeCatchUpRate);
    clock.advance(100_000_000);
    expect(logClock.nowMs()).toBe(clock.wallMs());
  });

  it('resumes from the last stamp after a restart, not from the wall clock', () => {
    const clock = new ManualClock(0, 5_000_000);
    const logClock = new LogClock(clock, 2_000_000);
    clock.advance(10);
    expect(logClock.nowMs()).toBe(2_000_000 + 10 * logTimeCatchUpRate);
  });

  it('observing a later stamp from the log moves log time forward', () => {
    const clock = new ManualClock(0, 1_000_000);
    const logClock = new LogClock(clock, 0);
    logClock.observe(1_005_000);
    expect(logClock.nowMs()).toBe(1_005_000);
    logClock.observe(1_000_001);
    expect(logClock.nowMs()).toBe(1_005_000);
  });
});

describe('SkewedClock', () => {
  it('offsets the wall clock and scales the monotonic clock from the moment the rate is set', () => {
    const inner = new ManualClock(1_000, 0);
    const skewed = new SkewedClock(inner);
    skewed.setFaults({ clockOffsetMs: 60_000, clockRate: 2 });
    inner.advance(100);
    expect(skewed.wallMs()).toBe(inner.wallMs() + 60_000);
    expect(skewed.monotonicMs()).toBe(1_000 + 200);
  });
});
