// Swarm testing: each seed draws its own fault mix (which kinds of fault are on, how often,
// how long, how lossy and slow the network is), so a run of many seeds covers quiet clusters,
// storms of one fault kind and everything between. The Nemesis then injects faults at random
// times during the fault phase; every fault it starts also ends on its own after a while.

import { defaultRaftConfig, type RaftConfig } from '../../src/config.js';
import type { Scheduler } from './event-queue.js';
import {
  describeLinks,
  type Link,
  type NetworkProfile,
  type PartitionKind,
  partitionKinds,
  partitionLinks,
} from './network.js';
import type { Prng } from './prng.js';
import type { SimNode } from './sim-node.js';

export const faultKinds = ['partition', 'crash', 'crashMany', 'pause', 'clockBump'] as const;
export type FaultKind = (typeof faultKinds)[number];

/** A seed's draw of everything that can go wrong, and of the Raft settings it runs with. */
export interface FaultProfile {
  raftTuning: RaftTuning;
  network: NetworkProfile;
  fsyncMsMin: number;
  fsyncMsMax: number;
  /** Each node's clock runs at 1 ± up to this; the lease assumes a far wider bound (leaseDriftTicks). */
  clockDriftMax: number;
  /** The kinds of fault this seed injects; none is a valid (quiet) mix too. */
  faults: readonly FaultKind[];
  partitionKinds: readonly PartitionKind[];
  faultGapMsMean: number;
  /**
   * Faults (a partition, a crashed or paused node) in force at once before the nemesis waits
   * for one to end: one at a time gives the cluster calm spells between faults, in which a
   * fault like isolating a fresh leader has a clean effect; more give storms.
   */
  concurrentFaultsMax: number;
  faultDurationMsMin: number;
  faultDurationMsMax: number;
  clockBumpMsMax: number;
  /** How often a fault aimed at one node picks the leader rather than any node. */
  leaderTargetShare: number;
  /**
   * How often a node that has just won an election is cut off or crashed within
   * newLeaderFaultDelayMsMax. Cut off before its first appends arrive, a new leader keeps
   * its entries to itself; leaders flapping like that leave the mismatched log tails of
   * Raft's Figure 8 (which a leader committing older terms' entries by count turns into loss).
   */
  newLeaderFaultShare: number;
  newLeaderFaultDelayMsMax: number;
}

export function drawFaultProfile(prng: Prng): FaultProfile {
  const latencyMsMin = prng.between(0.1, 3);
  const fsyncMsMin = prng.between(0.1, 2);
  return {
    raftTuning: drawRaftTuning(prng),
    network: {
      latencyMsMin,
      latencyMsMax: latencyMsMin + prng.pick([1, 5, 20, 60]),
      dropRate: prng.chance(0.5) ? prng.between(0, 0.15) : 0,
      duplicateRate: prng.chance(0.5) ? prng.between(0, 0.1) : 0,
      reorder: prng.chance(0.7),
    },
    fsyncMsMin,
    fsyncMsMax: fsyncMsMin + prng.pick([1, 5, 20]),
    clockDriftMax: 0.01,
    faults: faultKinds.filter(() => prng.chance(0.6)),
    // Isolating one node (usually the leader) is always among the shapes: it is the fault that
    // tests leader step-down, leases and elections most directly.
    partitionKinds: [
      'isolateNode',
      ...prng.shuffled(partitionKinds.filter((kind) => kind !== 'isolateNode')).slice(0, prng.int(0, 4)),
    ],
    faultGapMsMean: prng.pick([300, 1000, 2000]),
    concurrentFaultsMax: prng.pick([1, 1, 2, 4]),
    faultDurationMsMin: 100,
    faultDurationMsMax: prng.pick([1000, 2000, 4000]),
    clockBumpMsMax: prng.pick([1000, 60_000, 3_600_000]),
    leaderTargetShare: prng.between(0.3, 0.9),
    newLeaderFaultShare: prng.chance(0.4) ? prng.between(0.2, 0.8) : 0,
    newLeaderFaultDelayMsMax: prng.pick([5, 20, 100]),
  };
}

/** The Raft settings a seed draws; the rest stay at defaultRaftConfig. */
export type RaftTuning = Pick<
  RaftConfig,
  | 'heartbeatTicks'
  | 'electionTimeoutTicksMin'
  | 'leaseDriftTicks'
  | 'appendEntriesCountMax'
  | 'inflightMessagesMax'
>;

/**
 * Small appends and a small inflight window make followers acknowledge a leader's log piece
 * by piece (where committing an older term's entry by counting replicas goes wrong); short
 * timeouts make elections, and so leader changes, twice as frequent. Leases follow the
 * timeouts (electionTimeoutTicksMin - leaseDriftTicks), so they stay safe either way.
 */
function drawRaftTuning(prng: Prng): RaftTuning {
  const timeouts = prng.chance(0.5)
    ? { heartbeatTicks: 1, electionTimeoutTicksMin: 5, leaseDriftTicks: 1 }
    : {
        heartbeatTicks: defaultRaftConfig.heartbeatTicks,
        electionTimeoutTicksMin: defaultRaftConfig.electionTimeoutTicksMin,
        leaseDriftTicks: defaultRaftConfig.leaseDriftTicks,
      };
  return {
    ...timeouts,
    appendEntriesCountMax: prng.pick([1, 3, 64, defaultRaftConfig.appendEntriesCountMax]),
    inflightMessagesMax: prng.pick([1, 2, 16, defaultRaftConfig.inflightMessagesMax]),
  };
}

/**
 * Fault mixes aimed at one kind of bug, for tests and `raftkv sim --fault-mix NAME`; each
 * replaces part of the seed's own draw. The swarm's default draws reach the same situations,
 * only less often.
 */
export const faultMixes = {
  /**
   * Leaders cut off within 100 ms of winning, quick elections, one-entry appends: leaders
   * flap, each leaving a tail only it holds, and the next one replicates older terms' entries
   * piece by piece: Raft's Figure 8, where committing older terms' entries by count loses data.
   */
  figure8: {
    raftTuning: {
      heartbeatTicks: 1,
      electionTimeoutTicksMin: 5,
      leaseDriftTicks: 1,
      appendEntriesCountMax: 1,
      inflightMessagesMax: 1,
    },
    faults: ['partition'],
    partitionKinds: ['isolateNode'],
    leaderTargetShare: 1,
    newLeaderFaultShare: 0.9,
    newLeaderFaultDelayMsMax: 100,
    concurrentFaultsMax: 1,
    faultDurationMsMax: 1000,
    faultGapMsMean: 300,
  },
  /** The leader cut off, one fault at a time: a deposed leader that does not know it yet. */
  isolateLeader: {
    faults: ['partition'],
    partitionKinds: ['isolateNode'],
    leaderTargetShare: 1,
    concurrentFaultsMax: 1,
  },
} satisfies Record<string, Partial<FaultProfile>>;

export type FaultMixName = keyof typeof faultMixes;

/** What the nemesis acts on: the world, which also tells clients and checkers what happened. */
export interface FaultTarget extends Scheduler {
  readonly nodes: readonly SimNode[];
  leader(): SimNode | undefined;
  crash(node: SimNode): void;
  /** Starts a node that is down, from its disk. */
  start(node: SimNode): void;
  pause(node: SimNode): void;
  resume(node: SimNode): void;
  partition(links: readonly Link[]): void;
  heal(): void;
  /** Records a fault in the history (process "nemesis"). */
  recordFault(f: string, value: string): void;
}

export class Nemesis {
  private active = false;
  /** Bumped on each new partition, so an older partition's scheduled heal leaves a newer one alone. */
  private partitionGeneration = 0;
  private activeFaults = 0;

  constructor(
    private readonly profile: FaultProfile,
    private readonly prng: Prng,
    private readonly target: FaultTarget,
  ) {}

  start(): void {
    this.active = true;
    if (this.profile.faults.length > 0) this.scheduleNext();
  }

  /** A node has just become leader: maybe crash it soon (see newLeaderCrashShare). */
  leaderElected(node: SimNode): void {
    if (!this.active || !this.prng.chance(this.profile.newLeaderFaultShare)) return;
    const delayMs = this.prng.between(0, this.profile.newLeaderFaultDelayMsMax);
    // An isolation replaces the partition in force, so only a crash adds to the faults at once.
    const isolate = this.prng.chance(0.5);
    if (!isolate && this.activeFaults >= this.profile.concurrentFaultsMax) return;
    this.target.schedule(
      delayMs,
      () => `nemesis ${isolate ? 'isolates' : 'crashes'} new leader n${node.id}`,
      () => {
        if (!this.active || node.state === 'down') return;
        if (isolate) this.partition('isolateNode', node);
        else this.crash(node);
      },
    );
  }

  /** Injects nothing more; the world heals what is still broken. */
  stop(): void {
    this.active = false;
  }

  private scheduleNext(): void {
    const gapMs = this.prng.exponential(this.profile.faultGapMsMean);
    this.target.schedule(
      gapMs,
      () => 'nemesis',
      () => {
        if (!this.active) return;
        if (this.activeFaults < this.profile.concurrentFaultsMax)
          this.inject(this.prng.pick(this.profile.faults));
        this.scheduleNext();
      },
    );
  }

  private inject(kind: FaultKind): void {
    const nodes = this.target.nodes;
    const actions: Record<FaultKind, () => void> = {
      partition: () => this.partition(this.prng.pick(this.profile.partitionKinds), this.pickTarget(nodes)!),
      crash: () => this.crash(this.pickTarget(nodes.filter((node) => node.state !== 'down'))),
      crashMany: () => this.crashMany(),
      pause: () => this.pause(this.pickTarget(nodes.filter((node) => node.state === 'up'))),
      clockBump: () => this.bumpClock(this.pickTarget(nodes)),
    };
    actions[kind]();
  }

  private durationMs(): number {
    return this.prng.between(this.profile.faultDurationMsMin, this.profile.faultDurationMsMax);
  }

  /** The leader (sometimes) or any of the candidates; undefined when there are none. */
  private pickTarget(candidates: readonly SimNode[]): SimNode | undefined {
    if (candidates.length === 0) return undefined;
    const leader = this.target.leader();
    if (
      leader !== undefined &&
      candidates.includes(leader) &&
      this.prng.chance(this.profile.leaderTargetShare)
    ) {
      return leader;
    }
    return this.prng.pick(candidates);
  }

  /** A new partition (replacing the one in force), centred on `centre` for the kinds that have one. */
  private partition(kind: PartitionKind, centre: SimNode): void {
    const ids = this.target.nodes.map((node) => node.id);
    const links = partitionLinks(kind, ids, centre.id, this.prng);
    const generation = ++this.partitionGeneration;
    this.target.partition(links);
    this.target.recordFault('partition', `${kind} ${describeLinks(links)}`);
    this.later(() => {
      if (generation !== this.partitionGeneration) return;
      this.target.heal();
      this.target.recordFault('heal', 'all links');
    });
  }

  private crash(node: SimNode | undefined): void {
    if (node === undefined) return;
    this.target.crash(node);
    this.target.recordFault('kill', `n${node.id}`);
    this.later(() => {
      if (node.state !== 'down') return;
      this.target.start(node);
      this.target.recordFault('start', `n${node.id}`);
    });
  }

  /** A power loss: a majority, or every node, at once; each comes back on its own time. */
  private crashMany(): void {
    const running = this.target.nodes.filter((node) => node.state !== 'down');
    const majority = Math.floor(this.target.nodes.length / 2) + 1;
    const count = this.prng.chance(0.3) ? running.length : Math.min(majority, running.length);
    for (const node of this.prng.shuffled(running).slice(0, count)) this.crash(node);
  }

  private pause(node: SimNode | undefined): void {
    if (node === undefined) return;
    this.target.pause(node);
    this.target.recordFault('pause', `n${node.id}`);
    this.later(() => {
      if (node.state !== 'paused') return;
      this.target.resume(node);
      this.target.recordFault('resume', `n${node.id}`);
    });
  }

  private bumpClock(node: SimNode | undefined): void {
    if (node === undefined) return;
    const bumpMs = Math.round(this.prng.between(-this.profile.clockBumpMsMax, this.profile.clockBumpMsMax));
    node.clock.wallOffsetMs += bumpMs;
    this.target.recordFault('clock', `n${node.id} wall clock ${bumpMs >= 0 ? '+' : ''}${bumpMs} ms`);
  }

  /** Ends a fault after a random duration, unless the nemesis has stopped (the world heals then). */
  private later(end: () => void): void {
    this.activeFaults++;
    this.target.schedule(
      this.durationMs(),
      () => 'nemesis ends a fault',
      () => {
        this.activeFaults--;
        if (this.active) end();
      },
    );
  }
}
