import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventQueue } from './event-queue.js';

describe('EventQueue', () => {
  it('pops in time order, and in scheduling order at equal times', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
        const queue = new EventQueue<number>();
        times.forEach((atMs, position) => {
          queue.push(atMs, position);
        });
        const popped: number[] = [];
        for (let next = queue.pop(); next !== undefined; next = queue.pop()) popped.push(next.event);
        const expected = times
          .map((atMs, position) => ({ atMs, position }))
          .sort((a, b) => a.atMs - b.atMs || a.position - b.position)
          .map(({ position }) => position);
        expect(popped).toEqual(expected);
      }),
    );
  });

  it('interleaves pushes and pops correctly', () => {
    const queue = new EventQueue<string>();
    queue.push(10, 'b');
    queue.push(5, 'a');
    expect(queue.pop()).toEqual({ atMs: 5, event: 'a' });
    queue.push(10, 'c');
    queue.push(7, 'early');
    expect(queue.peekTimeMs()).toBe(7);
    expect([queue.pop()?.event, queue.pop()?.event, queue.pop()?.event]).toEqual(['early', 'b', 'c']);
    expect(queue.pop()).toBeUndefined();
    expect(queue.size).toBe(0);
  });
});
