import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyFilter } from './key-filter.js';
import { bytesToBinary } from './keys.js';

const binary = (text: string) => bytesToBinary(new TextEncoder().encode(text));

describe('KeyFilter', () => {
  it('holds nothing when empty', () => {
    expect(new KeyFilter().mayContain(binary('k'))).toBe(false);
  });

  it('never says no to a key it was given, across layers', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.uint8Array({ maxLength: 40 }), { maxLength: 300 }), (keys) => {
        // Layers of 8 keys: 300 keys fill several, each twice the size of the one before.
        const filter = new KeyFilter(8);
        const binaryKeys = keys.map(bytesToBinary);
        for (const key of binaryKeys) filter.add(key);
        return binaryKeys.every((key) => filter.mayContain(key));
      }),
    );
  });

  it('says maybe for few keys it was not given', () => {
    const filter = new KeyFilter(1_000);
    for (let i = 0; i < 20_000; i++) filter.add(binary(`bench/k${i}`));
    let falsePositives = 0;
    for (let i = 20_000; i < 40_000; i++) if (filter.mayContain(binary(`bench/k${i}`))) falsePositives++;
    // About 1% per layer and five layers here; a broken hash says maybe far more often.
    expect(falsePositives / 20_000).toBeLessThan(0.05);
  });

  it('does not grow when a key is added again', () => {
    const filter = new KeyFilter(4);
    for (let round = 0; round < 100; round++) filter.add(binary('hot'));
    expect(filter.addedCount).toBe(1);
  });
});
