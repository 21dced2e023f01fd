import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultRaftConfig, type RaftConfig } from '../config.js';
import type { Message } from './messages.js';
import { Raft } from './raft.js';
import { runScenario, ScenarioCluster } from './scenario.js';
import { MemoryStorage } from './storage.js';

const five = [1, 2, 3, 4, 5];
const timeout = defaultRaftConfig.electionTimeoutTicksMin;

// Each case is a script of steps; "expect" lines check the state after the step before them.
const scenarios: { name: string; ids?: number[]; config?: RaftConfig; steps: string[] }[] = [
  {
    name: 'a campaign wins, the no-op commits everywhere',
    steps: [
      'campaign 1',
      'expect role 1 leader',
      'expect leader all 1',
      'expect term all 1',
      'expect commit all 1',
    ],
  },
  {
    name: 'a new commit index rides on the next entries, and goes alone only when the linger runs out',
    steps: [
      'campaign 1',
      'propose-held 1 a',
      'expect commit 1 2',
      'expect commit 2 1',
      'expect commit 5 1',
      'propose-held 1 b',
      'expect commit 1 3',
      'expect commit 2 2',
      'expect commit 5 2',
      'settle',
      'expect commit all 3',
    ],
  },
  {
    name: 'a single node elects itself and commits alone',
    ids: [1],
    steps: ['campaign 1', 'expect role 1 leader', 'propose 1 a', 'expect commit 1 2'],
  },
  {
    name: 'a node with a stale log cannot win (Raft §5.4.1)',
    steps: [
      'campaign 1',
      'isolate 3',
      'propose 1 a',
      'propose 1 b',
      'expect commit 1 3',
      'expect last 3 1',
      'heal',
      'isolate 1',
      'campaign 3',
      'expect role 3 preCandidate',
      'expect term 3 1',
      `tick 2,3,4,5 ${3 * timeout}`,
      'expect role 3 follower',
      'expect leaders - 2',
    ],
  },
  {
    name: 'PreVote: a node cut off and back does not disrupt the leader',
    steps: [
      'campaign 1',
      'isolate 3',
      `tick 3 ${5 * timeout}`,
      'expect term 3 1',
      'expect role 3 preCandidate',
      'heal',
      'tick-all 3',
      'expect role 1 leader',
      'expect term all 1',
      'expect leader 3 1',
    ],
  },
  {
    name: 'CheckQuorum: a leader cut off from the majority steps down',
    steps: [
      'campaign 1',
      'isolate 1',
      `tick 1 ${2 * timeout}`,
      'expect role 1 follower',
      'expect leader 1 0',
    ],
  },
  {
    name: "a dead leader's first follower by id campaigns at the minimum timeout; voters a tick short answer a tick later",
    steps: [
      'campaign 1',
      'isolate 1',
      // Node 2's ticks run a tick ahead of the others' since the last heartbeat (tick phases):
      // at its minimum the others are still in their lease, so they hold its request...
      'tick 2 1',
      `tick 2,3,4,5 ${timeout - 1}`,
      'expect role 2 preCandidate',
      'expect term all 1',
      // ...and answer it at the tick their lease ends.
      'tick 3,4,5 1',
      'expect role 2 leader',
      'expect role 3 follower',
      'expect term 2 2',
    ],
  },
  {
    name: 'with the first follower gone too, the next campaigns a stagger later (2 ticks of 5 voters)',
    steps: [
      'campaign 1',
      'isolate 1',
      'isolate 2',
      `tick 3,4,5 ${timeout + 1}`,
      'expect role 3 follower',
      'expect role 4 follower',
      'tick 3,4,5 1',
      'expect role 3 leader',
      'expect role 4 follower',
    ],
  },
  {
    name: "a cut-off candidate's vote requests, held through a live leader's lease, are dropped and never answered later",
    config: { ...defaultRaftConfig, preVote: false },
    steps: [
      'campaign 1',
      'cut 1 2',
      // Node 2 hears no leader and campaigns; 3, 4 and 5 hear node 1 and hold its requests.
      `tick-all ${3 * timeout}`,
      'expect term 3 1',
      'expect leader 3 1',
      'isolate 2',
      `tick-all ${timeout}`,
      // The leader dies: the others' leases end with nothing held left to answer.
      'isolate 1',
      `tick 3,4,5 ${timeout}`,
      'expect term 3 1',
      'expect term 4 1',
    ],
  },
  {
    name: 'split vote: two candidates each one vote short, then one wins',
    config: { ...defaultRaftConfig, preVote: false },
    steps: [
      'isolate 5',
      'cut 1 4',
      'cut 2 3',
      'cut 1 2',
      'campaign 1',
      'campaign 2',
      'expect role 1 candidate',
      'expect role 2 candidate',
      'heal',
      `tick-all ${4 * timeout}`,
      'expect leaders - 1',
    ],
  },
  {
    name: 'ReadIndex at the leader is confirmed by a heartbeat round',
    steps: ['campaign 1', 'propose 1 a', 'read 1 readIndex 7', 'expect read 1 2 7'],
  },
  {
    name: 'ReadIndex at a follower goes through the leader',
    steps: ['campaign 1', 'propose 1 a', 'read 4 readIndex 8', 'expect read 4 2 8'],
  },
  {
    name: 'a deposed leader never confirms a ReadIndex read',
    steps: [
      'campaign 1',
      'isolate 1',
      `tick 2,3,4,5 ${3 * timeout}`,
      'expect role 1 leader',
      'expect leaders - 2',
      'read 1 readIndex 9',
      'expect read 1 none 9',
      `tick 1 ${2 * timeout}`,
      'expect role 1 follower',
      'expect read 1 refused 9',
    ],
  },
  {
    name: 'a lease read is served locally while the lease holds, never after it ends',
    steps: [
      'campaign 1',
      'tick-all 2',
      'read 1 lease 10',
      'expect read 1 1 10',
      'isolate 1',
      `tick 1 ${timeout - 1}`,
      'read 1 lease 11',
      'expect read 1 none 11',
    ],
  },
  {
    name: 'leader transfer hands over with TimeoutNow',
    steps: [
      'campaign 1',
      'propose 1 a',
      'transfer 1 3',
      'expect role 3 leader',
      'expect term all 2',
      'expect leader all 3',
    ],
  },
  {
    name: 'a restarted node keeps its term and log',
    steps: [
      'campaign 1',
      'propose 1 a',
      'restart 2',
      'expect term 2 1',
      'expect last 2 2',
      'tick-all 3',
      'expect commit 2 2',
    ],
  },
];

describe('raft core scenarios', () => {
  for (const scenario of scenarios) {
    it(scenario.name, () => {
      runScenario(scenario.ids ?? five, scenario.steps, scenario.config);
    });
  }
});

describe('Figure 7: a new leader brings every follower log to its own', () => {
  // Raft paper Figure 7: the leader of term 8 and followers (a)-(f).
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  for (const [name, followerLog] of Object.entries(followers)) {
    it(`follower (${name})`, () => {
      const cluster = new ScenarioCluster([1, 2, 3]);
      cluster.preload(1, leaderLog, 7);
      cluster.preload(2, followerLog, 7);
      // Node 3 holds the leader's log so that node 1 can win with or without node 2.
      cluster.preload(3, leaderLog, 7);
      cluster.run('campaign 1');
      cluster.run('expect role 1 leader');
      cluster.run('tick-all 4');
      const expected = [...leaderLog, 8].join(',');
      cluster.run(`expect log all ${expected}`);
      cluster.run(`expect commit all ${leaderLog.length + 1}`);
    });
  }
});

describe('Figure 8: entries of older terms are not committed by counting replicas', () => {
  // S1 held index 2 from term 2, lost leadership, and now leads term 4. A majority (S1, S2,
  // S3) holds index 2, but S1's own no-op of term 4 is not yet on its disk: counting replicas
  // would commit index 2, which a leader with a term-3 entry at index 2 could still overwrite.
  function commitAfterMajorityHoldsOldEntry(config: RaftConfig): number {
    const storage = new MemoryStorage({ voters: five, learners: [] });
    const entry = (index: number, term: number) => ({
      index,
      term,
      type: 'normal' as const,
      stampMs: 0,
      data: new Uint8Array(),
    });
    storage.append([entry(1, 1), entry(2, 2)]);
    storage.setHardState({ term: 3, vote: 0, commit: 1 });
    const raft = new Raft({ id: 1, storage, config, random: () => 0, honourForgottenLease: false });
    raft.campaign();
    for (const from of [2, 3]) raft.step({ type: 'preVoteResp', from, to: 1, term: 4, reject: false });
    for (const from of [2, 3]) raft.step({ type: 'voteResp', from, to: 1, term: 4, reject: false });
    expect(raft.status().role).toBe('leader');
    for (const from of [2, 3]) {
      raft.step({
        type: 'appResp',
        from,
        to: 1,
        term: 4,
        index: 2,
        reject: false,
        rejectHint: 0,
        logTermHint: 0,
      });
    }
    return raft.status().commitIndex;
  }

  it('the leader of term 4 does not commit the term-2 entry by counting replicas', () => {
    expect(commitAfterMajorityHoldsOldEntry(defaultRaftConfig)).toBe(1);
  });

  it('the planted bug commitOlderTermsByCount does (so the test above can fail)', () => {
    const config = { ...defaultRaftConfig, testFaults: { commitOlderTermsByCount: true } };
    expect(commitAfterMajorityHoldsOldEntry(config)).toBe(2);
  });
});

describe('raft core properties', () => {
  it('under random cuts, ticks and proposals: one leader per term, committed prefixes agree', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('tick' as const), count: fc.integer({ min: 1, max: 25 }) }),
      fc.record({ kind: fc.constant('propose' as const), node: fc.integer({ min: 1, max: 5 }) }),
      fc.record({ kind: fc.constant('isolate' as const), node: fc.integer({ min: 1, max: 5 }) }),
      fc.record({ kind: fc.constant('heal' as const) }),
      fc.record({ kind: fc.constant('restart' as const), node: fc.integer({ min: 1, max: 5 }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { minLength: 5, maxLength: 40 }), (steps) => {
        const cluster = new ScenarioCluster(five);
        const leaderOfTerm = new Map<number, number>();
        for (const action of steps) {
          if (action.kind === 'tick') cluster.tickAll(action.count);
          if (action.kind === 'propose') cluster.propose(action.node, 'v');
          if (action.kind === 'isolate') cluster.isolate(action.node);
          if (action.kind === 'heal') cluster.heal();
          if (action.kind === 'restart') cluster.restart(action.node);
          for (const id of cluster.leaders()) {
            const term = cluster.node(id).raft.status().term;
            expect(leaderOfTerm.get(term) ?? id).toBe(id);
            leaderOfTerm.set(term, id);
          }
        }
        assertCommittedPrefixesAgree(cluster);
      }),
      { numRuns: 60 },
    );
  });
});

function assertCommittedPrefixesAgree(cluster: ScenarioCluster): void {
  const committedTerms = cluster.ids.map((id) => {
    const raft = cluster.node(id).raft;
    return raft
      .logEntries(1, raft.status().commitIndex + 1)
      .map((entry) => `${entry.term}:${entry.data.length}`);
  });
  for (const a of committedTerms) {
    for (const b of committedTerms) {
      const common = Math.min(a.length, b.length);
      expect(a.slice(0, common)).toEqual(b.slice(0, common));
    }
  }
}

describe('pre-votes asked ahead of the election timeout', () => {
  const lead = defaultRaftConfig.preVoteLeadTicks;
  /** The messages a step sent (delivered or dropped), as "from->to type", without their details. */
  const sent = (cluster: ScenarioCluster, line: string) => {
    const before = cluster.trace.length;
    cluster.run(line);
    return cluster.trace.slice(before).map((text) =>
      text
        .replace(/^DROP /, '')
        .split(' ')
        .slice(0, 2)
        .join(' '),
    );
  };
  /** Node 1 leads, then dies; 3, 4 and 5 count its silence a tick ahead of node 2 (first in line). */
  const deadLeader = () =>
    runScenario(five, ['campaign 1', 'isolate 1', 'tick 3,4,5 1', `tick 2,3,4,5 ${timeout - lead - 1}`]);

  it('the first in line asks early; voters hold it and grant at the end of their lease; at its timeout it goes straight to the vote', () => {
    const cluster = deadLeader();
    // Its timeout less the lead: it asks, still a follower, and the others (in their lease) hold it.
    expect(sent(cluster, 'tick 2,3,4,5 1')).toEqual([
      '2->1 preVote',
      '2->3 preVote',
      '2->4 preVote',
      '2->5 preVote',
    ]);
    cluster.run('expect role 2 follower');
    // Their lease ends a tick before node 2's timeout: they grant the request they held. (Node 3,
    // next in line, asks early too at this tick, its own timeout less the lead.)
    expect(
      sent(cluster, `tick 2,3,4,5 ${lead - 1}`).filter((text) => text.endsWith('->2 preVoteResp')),
    ).toEqual(['3->2 preVoteResp', '4->2 preVoteResp', '5->2 preVoteResp']);
    cluster.run('expect role 2 follower');
    cluster.run('expect term all 1');
    // At its timeout it campaigns with the pre-votes in hand: votes asked at once, no PreVote round.
    const atTimeout = sent(cluster, 'tick 2 1');
    expect(atTimeout.filter((text) => text.startsWith('2->') && text.endsWith(' preVote'))).toEqual([]);
    expect(atTimeout).toContain('2->3 vote');
    cluster.run('expect role 2 leader');
    cluster.run('expect term 2 2');
  });

  it('a leader heard after the asking voids the grants: a campaign then asks again', () => {
    const cluster = deadLeader();
    cluster.run(`tick 2,3,4,5 ${lead}`);
    cluster.run('expect role 2 follower');
    // The leader comes back and is heard; node 2 campaigns anyway (an operator's campaign).
    cluster.run('heal');
    cluster.run('tick 1 2');
    cluster.run('isolate 1');
    cluster.run('isolate 3');
    cluster.run('isolate 4');
    // With the old grants it would win its pre-vote on its own; without them it waits for answers.
    cluster.run('campaign 2');
    cluster.run('expect role 2 preCandidate');
    cluster.run('expect term 2 1');
  });

  it('with preVoteLeadTicks 0 nothing is asked before the timeout', () => {
    const config = { ...defaultRaftConfig, preVoteLeadTicks: 0 };
    const cluster = runScenario(
      five,
      ['campaign 1', 'isolate 1', 'tick 3,4,5 1', `tick 2,3,4,5 ${timeout - 2}`],
      config,
    );
    expect(sent(cluster, 'tick 2,3,4,5 1')).toEqual([]);
    expect(sent(cluster, 'tick 2 1')).toContain('2->3 preVote');
    cluster.run('expect role 2 leader');
  });
});

describe('planted bugs are caught by the scenarios above', () => {
  it('leaseReadsWithoutLease: a cut-off leader serves a lease read after its lease ended', () => {
    const config = { ...defaultRaftConfig, testFaults: { leaseReadsWithoutLease: true } };
    const cluster = runScenario(
      five,
      ['campaign 1', 'tick-all 2', 'isolate 1', `tick 1 ${timeout - 1}`, 'read 1 lease 11'],
      config,
    );
    expect(() => cluster.run('expect read 1 none 11')).toThrow(/has read 1/);
  });

  it('grantVoteWithoutLogCheck: a node with a stale log wins an election (and loses without the bug)', () => {
    const steps = [
      'campaign 1',
      'isolate 3',
      'propose 1 a',
      'heal',
      'isolate 1',
      // Node 2, first in line, would campaign at the minimum: out of the way, so 3 asks 4 and 5.
      'isolate 2',
      `tick 3,4,5 ${timeout}`,
      'campaign 3',
    ];
    const healthy = { ...defaultRaftConfig, preVote: false };
    // 4 and 5 refuse it (2 cannot answer): it stays a candidate without a majority.
    runScenario(five, [...steps, 'expect role 3 candidate'], healthy);
    const broken = { ...healthy, testFaults: { grantVoteWithoutLogCheck: true } };
    runScenario(five, [...steps, 'expect role 3 leader'], broken);
  });
});

describe('ReadIndex batching by heartbeat round', () => {
  function leaderOfThree(): Raft {
    const storage = new MemoryStorage({ voters: [1, 2, 3], learners: [] });
    const raft = new Raft({
      id: 1,
      storage,
      config: defaultRaftConfig,
      random: () => 0,
      honourForgottenLease: false,
    });
    raft.campaign();
    raft.step({ type: 'preVoteResp', from: 2, to: 1, term: 1, reject: false });
    raft.step({ type: 'voteResp', from: 2, to: 1, term: 1, reject: false });
    // Persist the no-op and let a follower acknowledge it, so the leader has committed in its term.
    const ready = raft.ready();
    storage.append(ready.entries);
    raft.advance(ready);
    raft.step({
      type: 'appResp',
      from: 2,
      to: 1,
      term: 1,
      index: 1,
      reject: false,
      rejectHint: 0,
      logTermHint: 0,
    });
    expect(raft.status().commitIndex).toBe(1);
    raft.takeMessagesNow();
    return raft;
  }

  const heartbeatRounds = (messages: Message[]) =>
    messages.flatMap((message) => (message.type === 'heartbeat' ? [message.round] : []));

  it('a read arriving after its round went out starts a new round, and is confirmed by it', () => {
    const raft = leaderOfThree();
    raft.readIndex(1, 'readIndex');
    const [firstRound] = heartbeatRounds(raft.takeMessagesNow());
    expect(firstRound).toBeDefined();
    raft.readIndex(2, 'readIndex');
    const [secondRound] = heartbeatRounds(raft.takeMessagesNow());
    expect(secondRound).toBeGreaterThan(firstRound!);
    raft.step({ type: 'heartbeatResp', from: 2, to: 1, term: 1, round: firstRound! });
    expect(raft.ready().readStates).toEqual([{ readId: 1, index: 1 }]);
    raft.step({ type: 'heartbeatResp', from: 2, to: 1, term: 1, round: secondRound! });
    expect(raft.ready().readStates).toEqual([{ readId: 2, index: 1 }]);
  });

  it('reads arriving before the round goes out share it', () => {
    const raft = leaderOfThree();
    raft.readIndex(1, 'readIndex');
    raft.readIndex(2, 'readIndex');
    const rounds = heartbeatRounds(raft.takeMessagesNow());
    expect(new Set(rounds).size).toBe(1);
    raft.step({ type: 'heartbeatResp', from: 3, to: 1, term: 1, round: rounds[0]! });
    expect(raft.ready().readStates.map((state) => state.readId)).toEqual([1, 2]);
  });
});
