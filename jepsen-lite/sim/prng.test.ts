import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Prng } from './prng.js';

function draws(prng: Prng, count: number): number[] {
  return Array.from({ length: count }, () => prng.uint32());
}

describe('Prng', () => {
  it('gives the same stream for the same seed and different streams for nearby seeds', () => {
    expect(draws(new Prng(42), 20)).toEqual(draws(new Prng(42), 20));
    expect(draws(new Prng(42), 20)).not.toEqual(draws(new Prng(43), 20));
  });

  it('keeps every draw inside its range', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: -1000, max: 1000 }), fc.nat(1000), (seed, min, span) => {
        const prng = new Prng(seed);
        const next = prng.next();
        const between = prng.between(min, min + span + 1);
        const int = prng.int(min, min + span);
        expect(next).toBeGreaterThanOrEqual(0);
        expect(next).toBeLessThan(1);
        expect(between).toBeGreaterThanOrEqual(min);
        expect(between).toBeLessThan(min + span + 1);
        expect(Number.isInteger(int) && int >= min && int <= min + span).toBe(true);
      }),
    );
  });

  it('spreads integers evenly (a coarse chi-square check)', () => {
    const prng = new Prng(7);
    const buckets = new Array<number>(10).fill(0);
    const samples = 100_000;
    for (let i = 0; i < samples; i++) buckets[prng.int(0, 9)]!++;
    const expected = samples / 10;
    const chiSquare = buckets.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    // 9 degrees of freedom: 27.9 is the 0.1% critical value.
    expect(chiSquare).toBeLessThan(27.9);
  });

  it('forks streams that do not depend on how much the parent draws afterwards', () => {
    const parent = new Prng(5);
    const child = parent.fork();
    draws(parent, 100);
    expect(draws(child, 10)).toEqual(draws(new Prng(5).fork(), 10));
  });

  it('shuffles into a permutation', () => {
    const items = [1, 2, 3, 4, 5, 6, 7];
    const shuffled = new Prng(3).shuffled(items);
    expect([...shuffled].sort()).toEqual(items);
    expect(items).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});
