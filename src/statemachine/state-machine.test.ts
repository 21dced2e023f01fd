import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvariantError } from '../assert.js';
import { RaftkvError } from '../errors.js';
import type { KvPutCommand } from './commands.js';
import { kvGet, kvService } from './kv.js';
import type { Service } from './service.js';
import { StateMachine } from './state-machine.js';
import { type StateStoreHarness, storeHarnesses } from './state-store.contract.js';
import { MemoryStateStore, type StateStore } from './state-store.js';
import { type EntryContent, logEntries } from './test-entries.js';

const putCommand = (key: string, value: unknown): KvPutCommand => ({ v: 1, kind: 'kv.put', key, value });

/** A service that writes, then rejects the command or breaks, as its value asks. */
const trialService: Service<KvPutCommand> = {
  name: 'trial',
  version: 1,
  namespace: 'trial/',
  commandKinds: ['kv.put'],
  validate: () => {},
  async apply(command, { index, stampMs, state }) {
    state.put(command.key, Buffer.from(String(stampMs)));
    if (command.value === 'reject') throw new RaftkvError('REVISION_MISMATCH');
    if (command.value === 'bug') throw new TypeError('a bug in the service');
    return { index, stampMs };
  },
  keysTouched: (command) => [command.key],
};

describe('StateMachine', () => {
  let store: MemoryStateStore;

  beforeEach(() => {
    store = new MemoryStateStore();
  });

  it('writes one batch per call, with the last entry as the applied index', async () => {
    const writeBatch = vi.spyOn(store, 'writeBatch');
    const machine = new StateMachine(store);
    await machine.applyEntries(logEntries(1, ['noop', putCommand('a', 1), putCommand('b', 2), 'config']));
    expect(writeBatch).toHaveBeenCalledTimes(1);
    expect(writeBatch.mock.calls[0]![0]).toHaveLength(2);
    expect(writeBatch.mock.calls[0]![1]).toBe(4);
    expect(machine.appliedIndex()).toBe(4);
  });

  it('names the state keys an entry may write; a noop, config or garbage entry touches none', () => {
    const machine = new StateMachine(store);
    const [put, noop, config, garbage] = logEntries(1, [
      putCommand('a/b', 1),
      'noop',
      'config',
      new Uint8Array([0xc1, 0x00]),
    ]);
    expect(machine.keysTouched(put!)).toEqual(['kv/a/b']);
    for (const entry of [noop!, config!, garbage!]) expect(machine.keysTouched(entry)).toEqual([]);
  });

  it('skips entries it has already applied, and writes nothing when all were', async () => {
    const machine = new StateMachine(store);
    await machine.applyEntries(logEntries(1, [putCommand('a', 1), putCommand('a', 2)]));
    const writeBatch = vi.spyOn(store, 'writeBatch');
    expect(await machine.applyEntries(logEntries(1, [putCommand('a', 1)]))).toEqual([null]);
    expect(writeBatch).not.toHaveBeenCalled();
    expect(await machine.applyEntries(logEntries(2, [putCommand('a', 2), putCommand('a', 3)]))).toEqual([
      null,
      { ok: true, value: { revision: 3 } },
    ]);
    expect(await kvGet(machine.reader(kvService), 'a')).toMatchObject({ value: 3, version: 3 });
  });

  it('stops on a gap after the applied index or between entries, writing nothing', async () => {
    const machine = new StateMachine(store);
    await expect(machine.applyEntries(logEntries(2, [putCommand('a', 1)]))).rejects.toThrow(InvariantError);
    const gapped = [...logEntries(1, [putCommand('a', 1)]), ...logEntries(3, [putCommand('b', 1)])];
    await expect(machine.applyEntries(gapped)).rejects.toThrow(InvariantError);
    expect(machine.appliedIndex()).toBe(0);
    expect(await store.get('kv/a')).toBeUndefined();
  });

  it('refuses a second call while one is applying', async () => {
    const machine = new StateMachine(store);
    const first = machine.applyEntries(logEntries(1, [putCommand('a', 1)]));
    await expect(machine.applyEntries(logEntries(2, [putCommand('b', 1)]))).rejects.toThrow(InvariantError);
    await first;
    expect(machine.appliedIndex()).toBe(1);
  });

  it('gives a service its namespace, the entry index and its log time', async () => {
    const machine = new StateMachine(store, [trialService]);
    const [entry] = logEntries(1, [putCommand('k', 'fine')]);
    expect(await machine.applyEntries([entry!])).toEqual([
      { ok: true, value: { index: 1, stampMs: entry!.stampMs } },
    ]);
    expect(Buffer.from((await store.get('trial/k'))!).toString()).toBe(String(entry!.stampMs));
  });

  it('discards the writes of a rejected command and goes on', async () => {
    const machine = new StateMachine(store, [trialService]);
    const results = await machine.applyEntries(
      logEntries(1, [putCommand('a', 'reject'), putCommand('b', 'fine')]),
    );
    expect(results[0]).toMatchObject({ ok: false, error: { code: 'REVISION_MISMATCH' } });
    expect(await store.get('trial/a')).toBeUndefined();
    expect(await store.get('trial/b')).toBeDefined();
  });

  it('stops on a bug in a service, writing nothing of the step', async () => {
    const machine = new StateMachine(store, [trialService]);
    await expect(
      machine.applyEntries(logEntries(1, [putCommand('a', 'fine'), putCommand('b', 'bug')])),
    ).rejects.toThrow(TypeError);
    expect(machine.appliedIndex()).toBe(0);
    expect(await store.get('trial/a')).toBeUndefined();
  });

  it('refuses services with overlapping namespaces or a shared command kind', () => {
    expect(() => new StateMachine(store, [kvService, { ...trialService, namespace: 'kv/trial/' }])).toThrow(
      InvariantError,
    );
    expect(() => new StateMachine(store, [kvService, trialService])).toThrow(InvariantError);
  });

  it('records an error for a command no registered service applies', async () => {
    const machine = new StateMachine(store, []);
    expect(await machine.applyEntries(logEntries(1, [putCommand('a', 1)]))).toEqual([
      { ok: false, error: expect.objectContaining({ code: 'BAD_REQUEST' }) },
    ]);
  });
});

/** Every record in a store, values as hex, to compare two stores byte for byte. */
async function dump(store: StateStore): Promise<[string, string][]> {
  const records: [string, string][] = [];
  for await (const { key, value } of store.iterate({})) {
    records.push([Buffer.from(key).toString('hex'), Buffer.from(value).toString('hex')]);
  }
  return records;
}

const workload: EntryContent[] = [
  'noop',
  putCommand('a', { n: 1 }),
  putCommand('b', [1, 2]),
  { v: 1, kind: 'kv.put', key: 'a', value: 2, ifRevision: 2 },
  { v: 1, kind: 'kv.put', key: 'a', value: 3, ifRevision: 2 },
  new Uint8Array([1, 2, 3]),
  { v: 1, kind: 'kv.delete', key: 'b' },
  putCommand('b', 'again'),
  'config',
  putCommand('c', null),
  { v: 1, kind: 'kv.delete', key: 'never' },
];

describe('determinism', () => {
  it('gives the same state and results on two stores, however the entries are batched', async () => {
    const memoryStore = new MemoryStateStore();
    const levelHarness = storeHarnesses[1].harness();
    try {
      const levelStore = await levelHarness.open();
      const entries = logEntries(1, workload);
      const oneStep = await new StateMachine(memoryStore).applyEntries(entries);
      const levelMachine = new StateMachine(levelStore);
      const stepByStep = [];
      for (let start = 0; start < entries.length; start += 3) {
        stepByStep.push(...(await levelMachine.applyEntries(entries.slice(start, start + 3))));
      }
      expect(stepByStep).toEqual(oneStep);
      expect(await dump(levelStore)).toEqual(await dump(memoryStore));
      expect(levelStore.appliedIndex()).toBe(memoryStore.appliedIndex());
    } finally {
      await levelHarness.close();
    }
  });
});

for (const { name, harness: makeHarness } of storeHarnesses) {
  describe(`restart over ${name}`, () => {
    let harness: StateStoreHarness;

    beforeEach(() => {
      harness = makeHarness();
    });
    afterEach(() => harness.close());

    it('does not apply again what the store already holds', async () => {
      const entries = logEntries(1, [...workload, putCommand('a', 'after'), putCommand('c', 'after')]);
      await new StateMachine(await harness.open()).applyEntries(entries.slice(0, 8));
      const restarted = await harness.reopen();
      const machine = new StateMachine(restarted);
      // The node re-delivers from wherever its log cursor is, possibly from the start.
      const results = await machine.applyEntries(entries);
      expect(results.slice(0, 8)).toEqual(Array(8).fill(null));
      expect(results.slice(8)).toEqual([
        null,
        { ok: true, value: { revision: 10 } },
        { ok: true, value: { revision: 11, deleted: false } },
        { ok: true, value: { revision: 12 } },
        { ok: true, value: { revision: 13 } },
      ]);
      const kv = machine.reader(kvService);
      expect(await kvGet(kv, 'a')).toMatchObject({ value: 'after', createRevision: 2, version: 3 });
      expect(await kvGet(kv, 'b')).toMatchObject({ value: 'again', createRevision: 8, version: 1 });
      expect(await kvGet(kv, 'c')).toMatchObject({ value: 'after', createRevision: 10, version: 2 });
      expect(restarted.appliedIndex()).toBe(13);
    });
  });
}
