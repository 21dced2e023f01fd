// The driver's write path in an in-process 3-node cluster (memory storage and network): which
// Readies reach the disk, and what a clean stop leaves there.
import { afterEach, describe, expect, it } from 'vitest';
import { defaultRaftConfig } from '../config.js';
import { encodeCommand } from '../statemachine/commands.js';
import { StateMachine } from '../statemachine/state-machine.js';
import { MemoryStateStore } from '../statemachine/state-store.js';
import { systemClock } from './clock.js';
import type { StorageUpdate } from './durable-storage.js';
import { MemoryDurableStorage } from './memory-durable-storage.js';
import { MemoryNetwork } from './memory-transport.js';
import { RaftNode } from './node.js';
import { seededRandom, testTickMs } from './test-node.js';

const ids = [1, 2, 3];

interface TestMember {
  node: RaftNode;
  storage: MemoryDurableStorage;
  /** Every update handed to storage.save, in order. */
  saves: StorageUpdate[];
}

function startCluster(network: MemoryNetwork): TestMember[] {
  return ids.map((id) => {
    const storage = new MemoryDurableStorage({ voters: ids, learners: [] });
    const saves: StorageUpdate[] = [];
    const save = storage.save.bind(storage);
    storage.save = (update) => {
      saves.push(update);
      return save(update);
    };
    const transport = network.transport(id);
    for (const peer of ids) if (peer !== id) transport.setPeer(peer, `memory:${peer}`);
    const node = new RaftNode({
      id,
      raftConfig: defaultRaftConfig,
      storage,
      transport,
      applier: new StateMachine(new MemoryStateStore()),
      clock: systemClock,
      random: seededRandom(id),
      tickMs: testTickMs,
    });
    node.start();
    return { node, storage, saves };
  });
}

describe('RaftNode write path', () => {
  let members: TestMember[] = [];

  afterEach(async () => {
    await Promise.all(members.map((member) => member.node.stop()));
    members = [];
  });

  it('writes no Ready to disk for a commit index alone, and saves it on a clean stop', async () => {
    members = startCluster(new MemoryNetwork());
    await expect
      .poll(() => members.find((m) => m.node.status().role === 'leader'), { timeout: 5_000 })
      .toBeTruthy();
    const leader = members.find((member) => member.node.status().role === 'leader')!;
    const writes = 20;
    for (let i = 0; i < writes; i++) {
      await leader.node.propose(encodeCommand({ v: 1, kind: 'kv.put', key: `k${i}`, value: i }));
    }
    const lastIndex = leader.node.status().lastIndex;
    for (const member of members) {
      await expect.poll(() => member.node.lastAppliedIndex(), { timeout: 5_000 }).toBe(lastIndex);
    }
    for (const member of members) {
      let saved = { term: 0, vote: 0 };
      for (const update of member.saves) {
        // Every save carries entries or a new term or vote; none a commit index alone.
        const hardState = update.hardState ?? saved;
        const votes = hardState.term !== saved.term || hardState.vote !== saved.vote;
        expect(update.entries.length > 0 || votes, JSON.stringify(update)).toBe(true);
        saved = hardState;
      }
      // The commit index got to the disk only as far as a save with entries took it.
      expect(member.storage.hardState().commit).toBeLessThanOrEqual(lastIndex);
    }
    await Promise.all(members.map((member) => member.node.stop()));
    for (const member of members) expect(member.storage.hardState().commit).toBe(lastIndex);
  });
});
