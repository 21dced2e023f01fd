// One simulated node: the real Raft core over a MemoryStorage "disk", driven the way etcd's
// raft node loop drives it, plus the register state machine. After any input, while the core
// has a Ready: send messagesNow, start one fsync (a few virtual ms; a crash before it ends
// loses it), then on completion write the disk, send messagesAfterPersist, apply, advance.
import { defaultNodeLimits, type RaftConfig } from '../../src/config.js';
import type { Entry, Message, NodeId } from '../../src/raft/messages.js';
import { type ProposeResult, Raft, type ReadState, type Ready, type Role } from '../../src/raft/raft.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import type { Scheduler } from './event-queue.js';
import { LogTime, type NodeClock } from './node-clock.js';
import type { Prng } from './prng.js';
import {
  decodeCommand,
  encodeCommand,
  Register,
  type RegisterCommand,
  type RegisterValue,
} from './register.js';

export type NodeState = 'up' | 'paused' | 'down';
export type ReadMode = 'readIndex' | 'lease';

/** What applying one committed entry did: null for entries that are not client commands. */
export type ApplyResult = { command: RegisterCommand; changed: boolean } | null;

/** The world around a node: time, the event queue, the network, and those watching it. */
export interface NodeHost extends Scheduler {
  send(message: Message): void;
  persisted(node: SimNode, entries: readonly Entry[]): void;
  applied(node: SimNode, entry: Entry, result: ApplyResult): void;
  /** A read answered with the register's value, or refused (undefined). */
  readFinished(node: SimNode, readId: number, value: RegisterValue | undefined): void;
  /** The node's core reported that it became leader. */
  leaderElected(node: SimNode): void;
}

export interface SimNodeOptions {
  id: NodeId;
  voters: readonly NodeId[];
  raftConfig: RaftConfig;
  clock: NodeClock;
  /** This node's own stream: fsync delays and its Raft's randomized timeouts. */
  prng: Prng;
  fsyncMsMin: number;
  fsyncMsMax: number;
}

/**
 * Most ticks a node catches up after a pause. Past a few election timeouts more ticks change
 * nothing (leases have lapsed, CheckQuorum has run), so the cap only saves time.
 */
function tickCatchUpMax(config: RaftConfig): number {
  return 8 * config.electionTimeoutTicksMin;
}

interface PendingRead {
  key: string;
  /** The index the read may be served at, once known. */
  index: number | null;
}

export class SimNode {
  readonly id: NodeId;
  readonly clock: NodeClock;
  /** The synced disk: survives crashes; only a completed fsync writes to it. */
  readonly storage: MemoryStorage;
  state: NodeState = 'down';
  /** The running core; null while the node is down. */
  raft: Raft | null = null;
  /** Bumped on every crash, so events meant for an earlier life of the node are ignored. */
  private incarnation = 0;
  private commitLingering = false;
  appliedIndex = 0;

  private readonly raftRandom: Prng;
  private register = new Register();
  private logTime = new LogTime();
  private ticksDone = 0;
  /** The role in the last Ready, to notice when this node becomes leader. */
  private reportedRole: Role = 'follower';
  /** The Ready whose fsync is in flight; the driver takes no other Ready until it completes. */
  private persisting: Ready | null = null;
  /** Inputs that arrived while paused, in arrival order; bounded by the pause length (faults.ts). */
  private inputsWhilePaused: (() => void)[] = [];
  private readonly pendingReads = new Map<number, PendingRead>();

  constructor(
    private readonly options: SimNodeOptions,
    private readonly host: NodeHost,
  ) {
    this.id = options.id;
    this.clock = options.clock;
    this.storage = new MemoryStorage({ voters: [...options.voters], learners: [] });
    this.raftRandom = options.prng.fork();
  }

  /** Starts (or restarts) the node from its disk with fresh volatile state. */
  start(): void {
    const nowMs = this.host.nowMs();
    this.state = 'up';
    this.raft = new Raft({
      id: this.id,
      storage: this.storage,
      config: this.options.raftConfig,
      random: () => this.raftRandom.next(),
    });
    this.register = new Register();
    this.appliedIndex = 0;
    this.logTime = new LogTime();
    this.reportedRole = 'follower';
    const lastIndex = this.storage.lastIndex();
    if (lastIndex >= this.storage.firstIndex()) {
      const [last] = this.storage.entries(lastIndex, lastIndex + 1, Number.POSITIVE_INFINITY);
      this.logTime.observe(last!.stampMs, this.clock.monotonicMs(nowMs));
    }
    this.ticksDone = this.clock.ticksDue(nowMs);
    this.scheduleTick();
    this.drain(this.raft);
  }

  /** Loses everything volatile: the core, un-synced writes, the state machine, pending reads. */
  crash(): void {
    this.state = 'down';
    this.raft = null;
    this.persisting = null;
    this.inputsWhilePaused = [];
    this.pendingReads.clear();
    this.incarnation++;
  }

  pause(): void {
    if (this.state === 'up') this.state = 'paused';
  }

  /** Resumes: first the ticks the node owes (its clock kept running), then what queued up meanwhile. */
  resume(): void {
    if (this.state !== 'paused') return;
    this.state = 'up';
    const queued = this.inputsWhilePaused;
    this.inputsWhilePaused = [];
    this.handle(this.incarnation, () => {});
    for (const input of queued) this.handle(this.incarnation, input);
    this.scheduleTick();
  }

  deliver(message: Message): void {
    this.handle(this.incarnation, () => this.raft!.step(message));
  }

  /** Hands a client request to the node; false when the node is down (connection refused). */
  submit(request: () => void): boolean {
    if (this.state === 'down') return false;
    this.handle(this.incarnation, request);
    return true;
  }

  /** Within a request: proposes a client command, stamped with this node's log time. */
  propose(command: RegisterCommand): ProposeResult {
    const nowMs = this.host.nowMs();
    const monotonicMs = this.clock.monotonicMs(nowMs);
    const stampMs = this.logTime.next(monotonicMs, this.clock.wallMs(nowMs));
    const result = this.raft!.propose([{ type: 'normal', data: encodeCommand(command) }], stampMs);
    if (result.ok) this.logTime.observe(stampMs, monotonicMs);
    return result;
  }

  /** Within a request: starts a read; its answer comes through NodeHost.readFinished. */
  read(readId: number, key: string, mode: ReadMode): void {
    this.pendingReads.set(readId, { key, index: null });
    this.raft!.readIndex(readId, mode);
  }

  /** Runs one input the way the node's event loop would, or queues it while paused. */
  private handle(incarnation: number, input: () => void): void {
    if (incarnation !== this.incarnation || this.state === 'down') return;
    if (this.state === 'paused') {
      this.inputsWhilePaused.push(input);
      return;
    }
    const raft = this.raft!;
    this.catchUpTicks(raft);
    input();
    this.drain(raft);
    this.scheduleCommitBroadcast(raft);
  }

  /** The driver's commit linger (NodeLimits.commitLingerMs), in virtual time. */
  private scheduleCommitBroadcast(raft: Raft): void {
    if (this.commitLingering || !raft.hasCommitToBroadcast()) return;
    this.commitLingering = true;
    const incarnation = this.incarnation;
    this.host.schedule(
      defaultNodeLimits.commitLingerMs,
      () => `commit linger n${this.id}`,
      () => {
        this.commitLingering = false;
        this.handle(incarnation, () => raft.broadcastCommit());
      },
    );
  }

  private catchUpTicks(raft: Raft): void {
    const ticksDue = this.clock.ticksDue(this.host.nowMs());
    const ticksOwed = Math.min(ticksDue - this.ticksDone, tickCatchUpMax(this.options.raftConfig));
    for (let tick = 0; tick < ticksOwed; tick++) raft.tick();
    this.ticksDone = ticksDue;
  }

  private scheduleTick(): void {
    const incarnation = this.incarnation;
    const nowMs = this.host.nowMs();
    const delayMs = this.clock.nextTickVirtualMs(nowMs) - nowMs;
    const onTick = (): void => {
      // A paused node's ticks are caught up on resume, which schedules the next one.
      if (incarnation !== this.incarnation || this.state !== 'up') return;
      this.handle(incarnation, () => {});
      this.scheduleTick();
    };
    this.host.schedule(delayMs, () => `tick n${this.id}`, onTick, true);
  }

  private drain(raft: Raft): void {
    while (this.persisting === null && raft.hasReady()) {
      const ready = raft.ready();
      if (ready.role === 'leader' && this.reportedRole !== 'leader') this.host.leaderElected(this);
      this.reportedRole = ready.role;
      for (const message of ready.messagesNow) this.host.send(message);
      this.acceptReadStates(ready.readStates);
      if (ready.entries.length === 0 && ready.hardState === null) {
        this.completeReady(raft, ready);
        continue;
      }
      this.persisting = ready;
      const incarnation = this.incarnation;
      const fsyncMs = this.options.prng.between(this.options.fsyncMsMin, this.options.fsyncMsMax);
      this.host.schedule(
        fsyncMs,
        () => `fsync done n${this.id} ${describeReadyWrites(ready)}`,
        () => this.handle(incarnation, () => this.completePersist(raft)),
      );
    }
  }

  private completePersist(raft: Raft): void {
    const ready = this.persisting!;
    this.persisting = null;
    if (ready.hardState !== null) this.storage.setHardState(ready.hardState);
    if (ready.entries.length > 0) {
      this.storage.append(ready.entries);
      this.logTime.observe(ready.entries.at(-1)!.stampMs, this.clock.monotonicMs(this.host.nowMs()));
      this.host.persisted(this, ready.entries);
    }
    this.completeReady(raft, ready);
  }

  /** The rest of a Ready once it is on disk: send what had to wait, apply, advance. */
  private completeReady(raft: Raft, ready: Ready): void {
    for (const message of ready.messagesAfterPersist) this.host.send(message);
    for (const entry of ready.committedEntries) this.apply(entry);
    raft.advance(ready);
    this.serveReads();
  }

  private apply(entry: Entry): void {
    this.appliedIndex = entry.index;
    if (entry.type !== 'normal') {
      this.host.applied(this, entry, null);
      return;
    }
    const command = decodeCommand(entry.data);
    this.host.applied(this, entry, { command, changed: this.register.apply(command) });
  }

  private acceptReadStates(readStates: readonly ReadState[]): void {
    for (const { readId, index } of readStates) {
      const pending = this.pendingReads.get(readId);
      if (pending === undefined) continue;
      if (index === null) {
        this.pendingReads.delete(readId);
        this.host.readFinished(this, readId, undefined);
      } else {
        pending.index = index;
      }
    }
    this.serveReads();
  }

  private serveReads(): void {
    for (const [readId, pending] of this.pendingReads) {
      if (pending.index === null || pending.index > this.appliedIndex) continue;
      this.pendingReads.delete(readId);
      this.host.readFinished(this, readId, this.register.read(pending.key));
    }
  }
}

function describeReadyWrites(ready: Ready): string {
  const entries = ready.entries.map((entry) => `${entry.index}@${entry.term}`).join(',');
  const hardState = ready.hardState;
  const hardText = hardState === null ? '' : ` hs t${hardState.term} v${hardState.vote} c${hardState.commit}`;
  return `entries=${entries}${hardText}`;
}
