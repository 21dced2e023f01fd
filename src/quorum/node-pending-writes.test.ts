// The pending-write index as the driver feeds it: an entry is pending from its Ready until the
// state machine applies it, and entries on disk past the applied index are pending at start-up.
import { describe, expect, it } from 'vitest';
import { defaultRaftConfig } from '../config.js';
import { systemClock } from '../node/clock.js';
import { MemoryDurableStorage } from '../node/memory-durable-storage.js';
import { MemoryNetwork } from '../node/memory-transport.js';
import { RaftNode } from '../node/node.js';
import type { Entry } from '../raft/messages.js';
import { encodeCommand } from '../statemachine/commands.js';
import { StateMachine } from '../statemachine/state-machine.js';
import { MemoryStateStore } from '../statemachine/state-store.js';
import { logEntries } from '../statemachine/test-entries.js';

const tickMs = 5;
const putK = { v: 1, kind: 'kv.put', key: 'k', value: 'v' } as const;

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, tickMs));
  }
}

/** A state machine whose applies wait while `held` is set. */
class GatedStateMachine extends StateMachine {
  held = false;

  override async applyEntries(entries: readonly Entry[]) {
    await waitUntil(() => !this.held, 'the apply gate');
    return super.applyEntries(entries);
  }
}

function singleNode(storage: MemoryDurableStorage, stateMachine: StateMachine): RaftNode {
  return new RaftNode({
    id: 1,
    raftConfig: defaultRaftConfig,
    storage,
    transport: new MemoryNetwork().transport(1),
    applier: stateMachine,
    clock: systemClock,
    random: () => 0.5,
    tickMs,
  });
}

describe('RaftNode pending writes', () => {
  it('an appended write is pending until the state machine has applied it', async () => {
    const stateMachine = new GatedStateMachine(new MemoryStateStore());
    const node = singleNode(new MemoryDurableStorage({ voters: [1], learners: [] }), stateMachine);
    node.start();
    try {
      await waitUntil(() => node.status().role === 'leader' && node.lastAppliedIndex() >= 1, 'a leader');
      stateMachine.held = true;
      const written = node.propose(encodeCommand(putK));
      await waitUntil(() => node.pendingIndex('kv/k') > 0, 'the write to be pending');
      expect(node.pendingIndex('kv/k')).toBeGreaterThan(node.lastAppliedIndex());
      expect(node.pendingIndex('kv/other')).toBe(0);
      stateMachine.held = false;
      const result = await written;
      expect(result).toMatchObject({ ok: true, value: { revision: expect.any(Number) } });
      expect(node.pendingIndex('kv/k')).toBe(0);
    } finally {
      await node.stop();
    }
  });

  it('entries on disk past the applied index are pending at start-up', async () => {
    const storage = new MemoryDurableStorage({ voters: [1], learners: [] });
    const entries = logEntries(1, ['noop', putK, { ...putK, key: 'j' }]);
    await storage.save({ hardState: { term: 1, vote: 1, commit: 1 }, entries, sync: true });
    const node = singleNode(storage, new StateMachine(new MemoryStateStore()));
    expect(node.lastAppliedIndex()).toBe(0);
    expect(node.pendingIndex('kv/k')).toBe(2);
    expect(node.pendingIndex('kv/j')).toBe(3);
    await node.stop();
  });
});
