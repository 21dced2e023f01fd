// Model-based test: random steps of KV commands (with garbage and noop entries, compare-and-set on
// the current, a stale or a made-up revision), applied to the state machine over each store and
// to a plain Map; after every step, results, gets and paginated ranges must agree.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KvCommand } from './commands.js';
import { type KvItem, type KvRecord, kvGet, kvRange, kvService } from './kv.js';
import { type ApplyResult, StateMachine } from './state-machine.js';
import { storeHarnesses } from './state-store.contract.js';
import { type EntryContent, logEntries } from './test-entries.js';

const keyPool = ['a', 'ab', 'b/1', 'b/2', 'é', '\uffff', '\u{1F600}'];
const prefixPool = ['', 'a', 'b/', 'é', '\u{1F600}'];

/** 'current' stands for the key's modRevision when the command is made (0 when absent). */
type IfRevision = undefined | 'current' | number;

type Operation =
  | { type: 'put'; key: string; value: unknown; ifRevision: IfRevision }
  | { type: 'delete'; key: string; ifRevision: IfRevision }
  | { type: 'garbage' }
  | { type: 'noop' };

const arbitraryIfRevision: fc.Arbitrary<IfRevision> = fc.option(
  fc.oneof(fc.constant('current' as const), fc.nat({ max: 12 })),
  {
    nil: undefined,
  },
);
const arbitraryKey = fc.constantFrom(...keyPool);
const arbitraryValue = fc
  .jsonValue({ maxDepth: 2 })
  .filter((value) => !JSON.stringify(value).includes('"__proto__"'));

const arbitraryOperation: fc.Arbitrary<Operation> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      type: fc.constant('put' as const),
      key: arbitraryKey,
      value: arbitraryValue,
      ifRevision: arbitraryIfRevision,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('delete' as const),
      key: arbitraryKey,
      ifRevision: arbitraryIfRevision,
    }),
  },
  { weight: 1, arbitrary: fc.constant({ type: 'garbage' as const }) },
  { weight: 1, arbitrary: fc.constant({ type: 'noop' as const }) },
);

const arbitraryStep = fc.record({
  operations: fc.array(arbitraryOperation, { minLength: 1, maxLength: 8 }),
  rangePrefix: fc.constantFrom(...prefixPool),
  pageSize: fc.integer({ min: 1, max: 4 }),
});

/** JSON text is what clients see, so -0 and 0 are one value. */
const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

const byteOrder = (first: string, second: string) => Buffer.compare(Buffer.from(first), Buffer.from(second));

class KvModel {
  private readonly records = new Map<string, KvRecord>();

  /** The entry for an operation, and the result the state machine must give it at `index`. */
  entryFor(operation: Operation, index: number): { content: EntryContent; expected: ApplyResult } {
    if (operation.type === 'noop') return { content: 'noop', expected: null };
    if (operation.type === 'garbage') {
      return {
        content: new Uint8Array([0x92, 0xc1]),
        expected: { ok: false, error: expect.objectContaining({ code: 'BAD_REQUEST' }) },
      };
    }
    const current = this.records.get(operation.key);
    const modRevision = current?.modRevision ?? 0;
    const ifRevision = operation.ifRevision === 'current' ? modRevision : operation.ifRevision;
    const command: KvCommand =
      operation.type === 'put'
        ? { v: 1, kind: 'kv.put', key: operation.key, value: operation.value, ifRevision }
        : { v: 1, kind: 'kv.delete', key: operation.key, ifRevision };
    if (ifRevision !== undefined && ifRevision !== modRevision) {
      return {
        content: command,
        expected: {
          ok: false,
          error: expect.objectContaining({ code: 'REVISION_MISMATCH', details: { modRevision } }),
        },
      };
    }
    if (operation.type === 'delete') {
      this.records.delete(operation.key);
      return {
        content: command,
        expected: { ok: true, value: { revision: index, deleted: current !== undefined } },
      };
    }
    this.records.set(operation.key, {
      value: asJson(operation.value),
      createRevision: current?.createRevision ?? index,
      modRevision: index,
      version: (current?.version ?? 0) + 1,
    });
    return { content: command, expected: { ok: true, value: { revision: index } } };
  }

  get(key: string): KvItem | undefined {
    const record = this.records.get(key);
    return record === undefined ? undefined : { key, ...record };
  }

  keysUnder(prefix: string): string[] {
    return [...this.records.keys()].filter((key) => key.startsWith(prefix)).sort(byteOrder);
  }
}

for (const { name, harness: makeHarness } of storeHarnesses) {
  describe(`KV against a model over ${name}`, () => {
    it('agrees on every result, get and range page', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(arbitraryStep, { minLength: 1, maxLength: 10 }), async (steps) => {
          const harness = makeHarness();
          try {
            const machine = new StateMachine(await harness.open());
            const state = machine.reader(kvService);
            const model = new KvModel();
            let nextIndex = 1;
            for (const { operations, rangePrefix, pageSize } of steps) {
              const planned = operations.map((operation, offset) =>
                model.entryFor(operation, nextIndex + offset),
              );
              const results = await machine.applyEntries(
                logEntries(
                  nextIndex,
                  planned.map((plan) => plan.content),
                ),
              );
              nextIndex += operations.length;
              expect(results).toEqual(planned.map((plan) => plan.expected));
              for (const key of keyPool) {
                const item = await kvGet(state, key);
                expect(item === undefined ? undefined : { ...item, value: asJson(item.value) }).toEqual(
                  model.get(key),
                );
              }
              expect(await walkRange(state, rangePrefix, pageSize)).toEqual(model.keysUnder(rangePrefix));
            }
            expect(machine.appliedIndex()).toBe(nextIndex - 1);
          } finally {
            await harness.close();
          }
        }),
        { numRuns: name === 'MemoryStateStore' ? 300 : 60 },
      );
    });
  });
}

/** Every key under a prefix, fetched page by page. */
async function walkRange(
  state: Parameters<typeof kvRange>[0],
  prefix: string,
  pageSize: number,
): Promise<string[]> {
  const keys: string[] = [];
  for (let after: string | undefined, more = true; more; ) {
    const page = await kvRange(state, { prefix, after, limit: pageSize });
    keys.push(...page.items.map((item) => item.key));
    after = keys.at(-1);
    more = page.more;
  }
  return keys;
}
