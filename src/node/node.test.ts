// The driver's write path in an in-process 3-node cluster (memory storage and network): which
// Readies reach the disk, and what a clean stop leaves there.
import { afterEach, describe, expect, it } from 'vitest';
import { defaultRaftConfig, type RaftConfig } from '../config.js';
import { encodeCommand } from '../statemachine/commands.js';
import { StateMachine } from '../statemachine/state-machine.js';
import { MemoryStateStore } from '../statemachine/state-store.js';
import { systemClock } from './clock.js';
import type { StorageUpdate } from './durable-storage.js';
import { MemoryDurableStorage } from './memory-durable-storage.js';
import { MemoryNetwork } from './memory-transport.js';
import { type NodeLimits, RaftNode } from './node.js';
import { seededRandom, testTickMs } from './test-node.js';

const ids = [1, 2, 3];

interface TestMember {
  node: RaftNode;
  storage: MemoryDurableStorage;
  /** Every update handed to storage.save, in order. */
  saves: StorageUpdate[];
  /** While set, this member's saves wait for it (a slow disk). */
  holdSaves: Promise<void> | null;
  /** Every transport.send of AppendEntries with entries: the entries' indices and the `now` option. */
  appendSends: { indices: number[]; now: boolean }[];
}

function startCluster(
  network: MemoryNetwork,
  limits: Partial<NodeLimits> = {},
  raftConfig: RaftConfig = defaultRaftConfig,
): TestMember[] {
  return ids.map((id) => {
    const storage = new MemoryDurableStorage({ voters: ids, learners: [] });
    const saves: StorageUpdate[] = [];
    const save = storage.save.bind(storage);
    const member: Omit<TestMember, 'node'> = { storage, saves, holdSaves: null, appendSends: [] };
    storage.save = async (update) => {
      saves.push(update);
      if (member.holdSaves) await member.holdSaves;
      return save(update);
    };
    const transport = network.transport(id);
    const send = transport.send.bind(transport);
    transport.send = (messages, options) => {
      const indices = messages.flatMap((message) =>
        message.type === 'app' ? message.entries.map((entry) => entry.index) : [],
      );
      if (indices.length > 0) member.appendSends.push({ indices, now: options?.now ?? false });
      send(messages, options);
    };
    for (const peer of ids) if (peer !== id) transport.setPeer(peer, `memory:${peer}`);
    const node = new RaftNode({
      id,
      raftConfig,
      storage,
      transport,
      applier: new StateMachine(new MemoryStateStore()),
      clock: systemClock,
      random: seededRandom(id),
      tickMs: testTickMs,
      limits,
    });
    node.start();
    return Object.assign(member, { node });
  });
}

async function electedLeader(members: TestMember[]): Promise<TestMember> {
  await expect
    .poll(() => members.find((m) => m.node.status().role === 'leader'), { timeout: 5_000 })
    .toBeTruthy();
  return members.find((member) => member.node.status().role === 'leader')!;
}

const put = (i: number) => encodeCommand({ v: 1, kind: 'kv.put', key: `k${i}`, value: i });

/** Followers whose disks stall do not answer heartbeats: without CheckQuorum the leader stays. */
const patientLeader: RaftConfig = { ...defaultRaftConfig, checkQuorum: false };

/** Lets timers and immediates run, so that anything the node would do by itself is done. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

describe('RaftNode write path', () => {
  let members: TestMember[] = [];

  afterEach(async () => {
    await Promise.all(members.map((member) => member.node.stop()));
    members = [];
  });

  it('writes no Ready to disk for a commit index alone, and saves it on a clean stop', async () => {
    members = startCluster(new MemoryNetwork());
    const leader = await electedLeader(members);
    const writes = 20;
    for (let i = 0; i < writes; i++) await leader.node.propose(put(i));
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

  /**
   * A cluster holding one uncommitted batch at most, whose followers' disks stall until
   * releaseFollowers(); firstIndex is the index the next proposal gets.
   */
  async function slowFollowerDisks(proposalBatchEntriesMax: number) {
    members = startCluster(
      new MemoryNetwork(),
      { proposalBatchesInFlightMax: 1, proposalBatchEntriesMax },
      patientLeader,
    );
    const leader = await electedLeader(members);
    const followers = members.filter((member) => member !== leader);
    let release = () => {};
    const slowDisk = new Promise<void>((resolve) => (release = resolve));
    for (const follower of followers) follower.holdSaves = slowDisk;
    const releaseFollowers = () => {
      for (const follower of followers) follower.holdSaves = null;
      release();
    };
    return { leader, firstIndex: leader.node.status().lastIndex + 1, releaseFollowers };
  }

  it('holds proposals while a batch is uncommitted, and sends them as one batch once it commits', async () => {
    const { leader, firstIndex, releaseFollowers } = await slowFollowerDisks(100);
    const first = leader.node.propose(put(0));
    await expect.poll(() => leader.storage.lastIndex(), { timeout: 5_000 }).toBe(firstIndex);
    const held = Array.from({ length: 10 }, (_, i) => leader.node.propose(put(i + 1)));
    await settle();
    // The first batch cannot commit (no follower's disk took it): the ten wait, not yet in the log.
    expect(leader.storage.lastIndex()).toBe(firstIndex);
    releaseFollowers();
    const results = await Promise.all([first, ...held]);
    expect(results.map((result) => result?.ok)).toEqual(Array(11).fill(true));
    const leaderBatches = leader.saves.map((update) => update.entries.length).filter((count) => count > 0);
    expect(leaderBatches.slice(-2)).toEqual([1, 10]);
  });

  it('sends held proposals at once when proposalBatchEntriesMax of them wait', async () => {
    const { leader, firstIndex, releaseFollowers } = await slowFollowerDisks(4);
    const proposals = [leader.node.propose(put(0))];
    await expect.poll(() => leader.storage.lastIndex(), { timeout: 5_000 }).toBe(firstIndex);
    for (let i = 1; i <= 3; i++) proposals.push(leader.node.propose(put(i)));
    await settle();
    expect(leader.storage.lastIndex()).toBe(firstIndex);
    proposals.push(leader.node.propose(put(4)));
    // The fourth waiting proposal reaches the cap: all four go out, uncommitted batch or not.
    await expect.poll(() => leader.storage.lastIndex(), { timeout: 5_000 }).toBe(firstIndex + 4);
    releaseFollowers();
    expect((await Promise.all(proposals)).every((result) => result?.ok)).toBe(true);
  });

  it('has a small batch of proposals leave at once, and a larger one with the rest of its turn', async () => {
    members = startCluster(new MemoryNetwork(), { sendAtOnceEntriesMax: 4 });
    const leader = await electedLeader(members);
    const sendsOf = async (proposals: number) => {
      const firstIndex = leader.node.status().lastIndex + 1;
      const results = await Promise.all(
        Array.from({ length: proposals }, (_, i) => leader.node.propose(put(i))),
      );
      expect(results.every((result) => result?.ok)).toBe(true);
      // The sends that carried the batch's entries (to each follower) for the first time.
      return leader.appendSends
        .filter((sent) => sent.indices[0] === firstIndex)
        .map((sent) => ({ now: sent.now, entries: new Set(sent.indices).size }));
    };
    const single = await sendsOf(1);
    expect(single.length).toBeGreaterThan(0);
    expect(single.every((sent) => sent.now)).toBe(true);
    const four = await sendsOf(4);
    expect(four.length).toBeGreaterThan(0);
    expect(four.every((sent) => sent.now && sent.entries === 4)).toBe(true);
    const five = await sendsOf(5);
    expect(five.length).toBeGreaterThan(0);
    expect(five.every((sent) => !sent.now && sent.entries === 5)).toBe(true);
  });

  it('refuses held proposals as soon as the leader loses its leadership', async () => {
    const network = new MemoryNetwork();
    members = startCluster(network, { proposalBatchesInFlightMax: 1 });
    const leader = await electedLeader(members);
    const firstIndex = leader.node.status().lastIndex + 1;
    for (const member of members) if (member !== leader) network.cut(leader.node.id, member.node.id);
    const first = leader.node.propose(put(0));
    await expect.poll(() => leader.storage.lastIndex(), { timeout: 5_000 }).toBe(firstIndex);
    const held = leader.node.propose(put(1));
    // CheckQuorum: cut off from both followers, the leader steps down within an election timeout.
    await expect(held).rejects.toMatchObject({ code: 'NO_LEADER' });
    expect(leader.storage.lastIndex()).toBe(firstIndex);
    network.heal();
    await expect(first).rejects.toMatchObject({ code: expect.stringMatching(/NO_LEADER|OUTCOME_UNKNOWN/) });
  });
});
