import { describe, expect, it } from 'vitest';
import { LogTime, logTimeCatchUpRate, NodeClock } from './node-clock.js';

describe('NodeClock', () => {
  it('ticks every tickMs of its own monotonic clock', () => {
    const clock = new NodeClock(1.01, 7, 50);
    expect(clock.ticksDue(0)).toBe(0);
    const next = clock.nextTickVirtualMs(0);
    expect(clock.ticksDue(next)).toBe(1);
    expect(clock.ticksDue(next - 0.001)).toBe(0);
    // A fast clock gets more ticks in the same virtual time.
    expect(clock.ticksDue(10_000)).toBe(Math.floor((10_000 * 1.01 + 7) / 50));
  });

  it('moves its wall clock with the offset, not its monotonic clock', () => {
    const clock = new NodeClock(1, 0, 50);
    clock.wallOffsetMs = 3_600_000;
    expect(clock.monotonicMs(100)).toBe(100);
    expect(clock.wallMs(100)).toBe(3_600_100);
  });
});

describe('LogTime', () => {
  it('follows the monotonic clock from the last stamp it knows', () => {
    const logTime = new LogTime();
    logTime.observe(5_000, 1_000);
    expect(logTime.next(1_250, 0)).toBe(5_250);
  });

  it('ignores a wall clock that is behind, and never goes backwards', () => {
    const logTime = new LogTime();
    logTime.observe(5_000, 1_000);
    expect(logTime.next(1_000, -1_000_000)).toBe(5_000);
    logTime.observe(4_000, 2_000);
    expect(logTime.next(2_000, 0)).toBe(6_000);
  });

  it('catches up with a wall clock ahead at most logTimeCatchUpRate as fast, then meets it', () => {
    const logTime = new LogTime();
    logTime.observe(1_000, 0);
    expect(logTime.next(1_000, 3_600_000)).toBe(Math.floor(1_000 + logTimeCatchUpRate * 1_000));
    expect(logTime.next(1_000, 2_050)).toBe(2_050);
  });
});
