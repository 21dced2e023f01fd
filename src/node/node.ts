// The runtime that drives the pure core: ticks from a real clock, proposals batched per event
// loop turn, and the Ready loop (send leader traffic, persist, send acks, apply, advance).
// It is short and dull on purpose: every decision lives in src/raft.
import { defaultNodeLimits, tickMs as defaultTickMs, type NodeLimits, type RaftConfig } from '../config.js';
import { RaftkvError } from '../errors.js';
import { PendingWriteIndex } from '../quorum/pending-index.js';
import type { Entry, HardState, Message, NodeId } from '../raft/messages.js';
import { Raft, type RaftStatus, type Ready, type Role } from '../raft/raft.js';
import type { ApplyResult } from '../statemachine/state-machine.js';
import { type Clock, LogClock } from './clock.js';
import type { DurableStorage, StorageUpdate } from './durable-storage.js';
import type { Transport } from './transport.js';

export { defaultNodeLimits, type NodeLimits };

/** What the node needs from the state machine. */
export interface Applier {
  appliedIndex(): number;
  applyEntries(entries: readonly Entry[]): Promise<ApplyResult[]>;
  /** The state keys an entry may write (quorum reads track the unapplied ones). */
  keysTouched(entry: Entry): readonly string[];
}

export interface RoleChange {
  atWallMs: number;
  role: Role;
  term: number;
  leaderId: NodeId;
}

export interface NodeOptions {
  id: NodeId;
  raftConfig: RaftConfig;
  storage: DurableStorage;
  transport: Transport;
  applier: Applier;
  clock: Clock;
  random: () => number;
  tickMs?: number;
  limits?: Partial<NodeLimits>;
  /** Called with every change of role, term or leader (logs, metrics, status page). */
  onRoleChange?: (change: RoleChange) => void;
  /** Called once per saved Ready, with the save's duration and entry count (metrics). */
  onSave?: (durationMs: number, entries: number) => void;
  /** Called when the node hits a fatal error (disk failure, broken invariant). */
  onFatal?: (error: unknown) => void;
  /**
   * Test-only planted bug (--test-stale-deposed-reads): while this node believes it leads, it
   * serves linearizable reads from local state with no ReadIndex round. A deposed leader that
   * has not noticed yet then serves stale values; jepsen-lite must catch it.
   */
  testServeReadsLocallyAsLeader?: boolean;
}

interface ProposalWaiter {
  term: number;
  resolve: (result: ApplyResult) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  /** The log index the proposal got (0 until proposed), so its timeout finds it in O(1). */
  slot: { index: number };
}

interface ReadWaiter {
  index: number | null;
  resolve: (index: number) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** An index the state machine has to reach before some readers may go on. */
interface ApplyWaiter {
  index: number;
  resolve: () => void;
}

export class RaftNode {
  readonly id: NodeId;
  private readonly raft: Raft;
  private readonly limits: NodeLimits;
  private readonly tickMs: number;
  private readonly logClock: LogClock;
  private lastTickAtMs: number;
  private tickTimer: NodeJS.Timeout | undefined;
  private commitTimer: NodeJS.Timeout | undefined;

  private pendingItems: { data: Uint8Array; waiter: Omit<ProposalWaiter, 'term'> }[] = [];
  /** The last index of each proposal batch this leader proposed and has not seen committed, oldest first. */
  private uncommittedBatches: { term: number; lastIndex: number }[] = [];
  private readonly proposals = new Map<number, ProposalWaiter>();
  private readonly reads = new Map<number, ReadWaiter>();
  private applyWaiters: ApplyWaiter[] = [];
  private nextReadId = 1;
  private flushScheduled = false;
  private readiesInFlight = 0;
  /** Readies are advanced in the order they were taken, each once its save is done. */
  private advanceChain: Promise<void> = Promise.resolve();
  private handedToApplyIndex: number;
  /** The state machine applies in order, one batch at a time, behind the Ready loop. */
  private applyChain: Promise<void> = Promise.resolve();
  private appliedIndex: number;
  /**
   * Quorum reads (design.md §5): per state key, the highest index appended here and not yet
   * applied. Fed at each Ready's entries (before their save) and after each apply step; it looks
   * at the entries only when a quorum read asks.
   */
  private readonly pendingWrites: PendingWriteIndex<Entry>;
  /** The last save started; saves complete in order, so it settles after every earlier one. */
  private lastSave: Promise<void> = Promise.resolve();
  /** A commit-only hard state not yet written (see persist). */
  private deferredHardState: HardState | null = null;
  private lastRole: Role = 'follower';
  private lastTerm = 0;
  private lastLeaderId: NodeId = 0;
  private stopped = false;
  private fatalError: unknown;

  constructor(private readonly options: NodeOptions) {
    this.id = options.id;
    this.limits = { ...defaultNodeLimits, ...options.limits };
    this.tickMs = options.tickMs ?? defaultTickMs;
    this.appliedIndex = options.applier.appliedIndex();
    this.handedToApplyIndex = this.appliedIndex;
    this.raft = new Raft({
      id: options.id,
      storage: options.storage,
      config: options.raftConfig,
      random: options.random,
      applied: this.appliedIndex,
      // A node that never left term 0 never acknowledged a leader: it has no lease to honour.
      honourForgottenLease: options.storage.hardState().term > 0,
    });
    this.pendingWrites = new PendingWriteIndex(this.appliedIndex, (entry: Entry) =>
      options.applier.keysTouched(entry),
    );
    this.notePendingWrites(this.unappliedStoredEntries());
    this.logClock = new LogClock(options.clock, this.lastKnownStampMs());
    this.lastTickAtMs = options.clock.monotonicMs();
    options.transport.onMessages((messages) => this.receive(messages));
  }

  private lastKnownStampMs(): number {
    const storage = this.options.storage;
    const last = storage.lastIndex();
    if (last < storage.firstIndex()) return 0;
    return storage.entries(last, last + 1, Number.POSITIVE_INFINITY)[0]!.stampMs;
  }

  /** Entries on disk past the applied index at start-up: pending writes, like any appended entry. */
  private unappliedStoredEntries(): Entry[] {
    const storage = this.options.storage;
    const first = Math.max(this.appliedIndex + 1, storage.firstIndex());
    if (first > storage.lastIndex()) return [];
    return storage.entries(first, storage.lastIndex() + 1, Number.POSITIVE_INFINITY);
  }

  start(): void {
    this.scheduleTick();
  }

  /**
   * Wakes at the core's next tick boundary (lastTickAtMs + tickMs). A plain interval drifts a
   * little each period against that grid, so a tick would be seen up to a whole tick late: an
   * election timeout, among others, would run up to tickMs long.
   */
  private scheduleTick(): void {
    if (this.stopped) return;
    const untilNextTick = this.lastTickAtMs + this.tickMs - this.options.clock.monotonicMs();
    this.tickTimer = setTimeout(
      () => {
        this.input(() => {});
        this.scheduleTick();
      },
      Math.min(this.tickMs, Math.max(1, Math.ceil(untilNextTick))),
    );
  }

  // ---- inputs: every one first brings the core's time up to date --------------------------------

  private input(action: () => void): void {
    if (this.stopped) return;
    try {
      this.catchUpTicks();
      action();
    } catch (error) {
      this.fail(error);
      return;
    }
    this.scheduleFlush();
  }

  private catchUpTicks(): void {
    const now = this.options.clock.monotonicMs();
    let owed = Math.floor((now - this.lastTickAtMs) / this.tickMs);
    if (owed <= 0) return;
    this.lastTickAtMs += owed * this.tickMs;
    owed = Math.min(owed, this.limits.tickCatchUpMax);
    for (let i = 0; i < owed; i++) this.raft.tick();
  }

  private receive(messages: Message[]): void {
    this.input(() => {
      for (const message of messages) {
        if (message.to === this.id) this.raft.step(message);
      }
    });
  }

  /** Proposes one command; resolves with its apply result once applied on this node. */
  propose(data: Uint8Array): Promise<ApplyResult> {
    this.throwIfUnavailable();
    if (this.proposals.size + this.pendingItems.length >= this.limits.pendingProposalsMax) {
      return Promise.reject(new RaftkvError('BUSY'));
    }
    return new Promise((resolve, reject) => {
      const slot = { index: 0 };
      const timer = setTimeout(() => this.expireProposal(timer, slot), this.limits.proposalTimeoutMs);
      this.pendingItems.push({ data, waiter: { resolve, reject, timer, slot } });
      this.scheduleFlush();
    });
  }

  /**
   * Confirms a read: resolves with an index this node has applied, such that serving the read
   * from local state now is linearizable (ReadIndex) or lease-safe.
   */
  read(mode: 'readIndex' | 'lease'): Promise<number> {
    this.throwIfUnavailable();
    if (this.reads.size >= this.limits.pendingReadsMax) return Promise.reject(new RaftkvError('BUSY'));
    if (this.options.testServeReadsLocallyAsLeader && this.raft.status().role === 'leader') {
      return Promise.resolve(this.appliedIndex);
    }
    const readId = this.nextReadId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reads.delete(readId);
        reject(new RaftkvError('READ_TIMEOUT'));
      }, this.limits.readTimeoutMs);
      this.reads.set(readId, { index: null, resolve, reject, timer });
      this.input(() => this.raft.readIndex(readId, mode));
    });
  }

  transferLeader(target: NodeId): void {
    this.input(() => this.raft.transferLeader(target));
  }

  campaign(): void {
    this.input(() => this.raft.campaign());
  }

  // ---- proposals ---------------------------------------------------------------------------------

  /** Proposes what waits, as one batch unless proposals are held back; returns how many went. */
  private flushProposals(): number {
    if (this.pendingItems.length === 0 || this.holdProposals()) return 0;
    const batch = this.pendingItems;
    this.pendingItems = [];
    const items = batch.map((item) => ({ type: 'normal' as const, data: item.data }));
    const result = this.raft.propose(items, this.logClock.stampMs());
    if (!result.ok) {
      const error = this.proposalRefusal(result.reason);
      for (const item of batch) this.settle(item.waiter.timer, () => item.waiter.reject(error));
      return 0;
    }
    this.uncommittedBatches.push({ term: result.term, lastIndex: result.firstIndex + batch.length - 1 });
    batch.forEach((item, offset) => {
      item.waiter.slot.index = result.firstIndex + offset;
      this.proposals.set(result.firstIndex + offset, { ...item.waiter, term: result.term });
    });
    return batch.length;
  }

  /**
   * Group commit (NodeLimits.proposalBatchesInFlightMax): true while this leader has that many
   * batches of its term uncommitted and fewer than proposalBatchEntriesMax proposals wait. Each
   * commit the leader learns of comes with a flush, which asks again. A node that does not lead
   * never holds: its proposals are refused at once.
   */
  private holdProposals(): boolean {
    const batches = this.uncommittedBatches;
    if (batches.length === 0) return false;
    const commit = this.raft.commitIndex();
    const { role } = this.raft.leadership();
    const term = this.raft.currentTerm();
    while (batches.length > 0 && (batches[0]!.lastIndex <= commit || batches[0]!.term !== term))
      batches.shift();
    return (
      role === 'leader' &&
      batches.length >= this.limits.proposalBatchesInFlightMax &&
      this.pendingItems.length < this.limits.proposalBatchEntriesMax
    );
  }

  private proposalRefusal(reason: 'notLeader' | 'transferring' | 'tooMany'): RaftkvError {
    if (reason === 'tooMany') return new RaftkvError('BUSY');
    const status = this.raft.status();
    return new RaftkvError('NO_LEADER', undefined, {
      leaderId: status.leaderId === this.id ? null : status.leaderId || null,
    });
  }

  /**
   * A proposal's timeout. Constant time for a proposed one: under overload thousands expire
   * together, and a scan per expiry would stall the event loop long enough to lose leadership.
   */
  private expireProposal(timer: NodeJS.Timeout, slot: { index: number }): void {
    if (slot.index === 0) {
      const pendingAt = this.pendingItems.findIndex((item) => item.waiter.timer === timer);
      if (pendingAt < 0) return;
      const [item] = this.pendingItems.splice(pendingAt, 1);
      item!.waiter.reject(new RaftkvError('BUSY'));
      return;
    }
    const waiter = this.proposals.get(slot.index);
    if (waiter?.timer !== timer) return;
    this.proposals.delete(slot.index);
    waiter.reject(new RaftkvError('OUTCOME_UNKNOWN'));
  }

  private settle(timer: NodeJS.Timeout, answer: () => void): void {
    clearTimeout(timer);
    answer();
  }

  // ---- the Ready loop ----------------------------------------------------------------------------

  private scheduleFlush(): void {
    if (this.flushScheduled || this.stopped) return;
    this.flushScheduled = true;
    // setImmediate lets every request of this event-loop turn join one proposal batch.
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.stopped) return;
      try {
        const proposed = this.flushProposals();
        const now = proposed > 0 && proposed <= this.limits.sendAtOnceEntriesMax;
        this.options.transport.send(this.raft.takeMessagesNow(), { now });
      } catch (error) {
        this.fail(error);
        return;
      }
      this.drainReadies();
      this.scheduleCommitBroadcast();
    });
  }

  /** A new commit index no append carried yet goes out alone after commitLingerMs. */
  private scheduleCommitBroadcast(): void {
    if (this.commitTimer !== undefined || !this.raft.hasCommitToBroadcast()) return;
    this.commitTimer = setTimeout(() => {
      this.commitTimer = undefined;
      this.input(() => this.raft.broadcastCommit());
    }, this.limits.commitLingerMs);
  }

  /**
   * Takes every Ready there is, up to readiesInFlightMax, without waiting for earlier saves:
   * storage merges the saves that queue up into one write (group commit), and each Ready is
   * advanced, in order, once its save is done.
   */
  private drainReadies(): void {
    while (!this.stopped && this.readiesInFlight < this.limits.readiesInFlightMax && this.raft.hasReady()) {
      if (this.applyLag() > this.limits.applyLagEntriesMax) {
        void this.applyChain.then(() => this.scheduleFlush());
        return;
      }
      this.startReady(this.raft.ready());
    }
  }

  private applyLag(): number {
    return this.handedToApplyIndex - this.appliedIndex;
  }

  private startReady(ready: Ready): void {
    this.readiesInFlight++;
    this.noteRole(ready);
    this.options.transport.send(ready.messagesNow);
    for (const state of ready.readStates) this.onReadState(state.readId, state.index);
    // Pending from now on, though not yet saved: a quorum read must not miss a write it may wait for.
    this.notePendingWrites(ready.entries);
    const saved = this.persist(ready);
    if (ready.committedEntries.length > 0) {
      // Committed entries already on this node's disk apply at once; others after this save.
      const storage = this.options.storage;
      const onDisk = (entry: Entry) =>
        entry.index <= storage.lastIndex() && storage.term(entry.index) === entry.term;
      this.enqueueApply(ready.committedEntries, ready.committedEntries.every(onDisk) ? null : saved);
    }
    this.advanceChain = this.advanceChain
      .then(() => saved)
      .then(() => {
        if (this.stopped) return;
        this.options.transport.send(ready.messagesAfterPersist);
        this.raft.advance(ready);
        this.readiesInFlight--;
        this.scheduleFlush();
      })
      .catch((error) => this.fail(error));
  }

  /**
   * Saves what the Ready must have on disk; resolves once it, and every save before it, is done.
   * A hard state whose only change is the commit index is not written on its own: Raft does not
   * need it durable (a restart recovers the commit index from the applied index and the leader),
   * so it waits in memory and goes with the next save. A follower then answers a commit-only
   * AppendEntries with no disk write at all.
   */
  private persist(ready: Ready): Promise<void> {
    if (ready.entries.length === 0 && !ready.mustSync) {
      if (ready.hardState) this.deferredHardState = ready.hardState;
      return this.lastSave;
    }
    const hardState = ready.hardState ?? this.deferredHardState;
    this.deferredHardState = null;
    this.lastSave = this.save({ hardState, entries: ready.entries, sync: true });
    return this.lastSave;
  }

  private async save(update: StorageUpdate): Promise<void> {
    const started = performance.now();
    await this.options.storage.save(update);
    this.options.onSave?.(performance.now() - started, update.entries.length);
  }

  private noteRole(ready: Ready): void {
    if (ready.role === this.lastRole && ready.term === this.lastTerm && ready.leaderId === this.lastLeaderId)
      return;
    this.lastRole = ready.role;
    this.lastTerm = ready.term;
    this.lastLeaderId = ready.leaderId;
    this.options.onRoleChange?.({
      atWallMs: this.options.clock.wallMs(),
      role: ready.role,
      term: ready.term,
      leaderId: ready.leaderId,
    });
  }

  private enqueueApply(entries: Entry[], after: Promise<void> | null): void {
    this.handedToApplyIndex = entries.at(-1)!.index;
    this.applyChain = this.applyChain
      .then(async () => {
        if (after) await after;
        if (this.stopped) return;
        const results = await this.options.applier.applyEntries(entries);
        for (let offset = 0; offset < entries.length; offset++) {
          this.onApplied(entries[offset]!, results[offset] ?? null);
        }
        this.appliedIndex = entries.at(-1)!.index;
        this.pendingWrites.markApplied(this.appliedIndex);
        this.releaseApplyWaiters();
      })
      .catch((error) => this.fail(error));
  }

  private onApplied(entry: Entry, result: ApplyResult): void {
    this.logClock.observe(entry.stampMs);
    const waiter = this.proposals.get(entry.index);
    if (!waiter) return;
    this.proposals.delete(entry.index);
    if (waiter.term === entry.term) {
      this.settle(waiter.timer, () => waiter.resolve(result));
    } else {
      // Another entry holds our index in the committed log: ours can never apply.
      this.settle(waiter.timer, () =>
        waiter.reject(
          new RaftkvError('NO_LEADER', 'leadership changed before the write committed; it was not applied'),
        ),
      );
    }
  }

  // ---- reads -------------------------------------------------------------------------------------

  private notePendingWrites(entries: readonly Entry[]): void {
    this.pendingWrites.append(entries);
  }

  /** The highest index appended here, not yet applied, whose command may write `stateKey`; 0 if none. */
  pendingIndex(stateKey: string): number {
    return this.pendingWrites.pendingIndex(stateKey);
  }

  /** The index of the last entry the state machine applied (its state is at least this fresh). */
  lastAppliedIndex(): number {
    return this.appliedIndex;
  }

  private onReadState(readId: number, index: number | null): void {
    const waiter = this.reads.get(readId);
    if (!waiter) return;
    if (index === null) {
      this.reads.delete(readId);
      const leaderId = this.raft.status().leaderId;
      this.settle(waiter.timer, () =>
        waiter.reject(new RaftkvError('NO_LEADER', undefined, { leaderId: leaderId || null })),
      );
      return;
    }
    this.whenApplied(index).then(() => {
      if (!this.reads.delete(readId)) return;
      this.settle(waiter.timer, () => waiter.resolve(Math.max(index, this.appliedIndex)));
    });
  }

  /** Resolves once the state machine has applied `index`. */
  whenApplied(index: number): Promise<void> {
    if (this.appliedIndex >= index) return Promise.resolve();
    return new Promise((resolve) => this.applyWaiters.push({ index, resolve }));
  }

  private releaseApplyWaiters(): void {
    const ready = this.applyWaiters.filter((waiter) => waiter.index <= this.appliedIndex);
    if (ready.length === 0) return;
    this.applyWaiters = this.applyWaiters.filter((waiter) => waiter.index > this.appliedIndex);
    for (const waiter of ready) waiter.resolve();
  }

  // ---- status and shutdown -----------------------------------------------------------------------

  /** This node's role and the leader it knows (0 when none); cheaper than status() on every write. */
  leadership(): { role: Role; leaderId: NodeId } {
    return this.raft.leadership();
  }

  status(): RaftStatus & { appliedIndex: number; logTimeMs: number } {
    return {
      ...this.raft.status(),
      appliedIndex: this.appliedIndex,
      logTimeMs: Math.floor(this.logClock.nowMs()),
    };
  }

  members(): { voters: NodeId[]; learners: NodeId[] } {
    return this.raft.members();
  }

  /** Log time now (design.md §3), for reads that ask "is this still live?". */
  logTimeMs(): number {
    return this.logClock.nowMs();
  }

  private throwIfUnavailable(): void {
    if (this.fatalError !== undefined)
      throw new RaftkvError('INTERNAL', 'the node stopped after a fatal error');
    if (this.stopped) throw new RaftkvError('SHUTTING_DOWN');
  }

  private fail(error: unknown): void {
    if (this.fatalError !== undefined) return;
    this.fatalError = error;
    this.options.onFatal?.(error);
  }

  /** Stops ticking and answering; waits for the Ready and apply work in flight. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.tickTimer);
    clearTimeout(this.commitTimer);
    const shutdown = new RaftkvError('SHUTTING_DOWN');
    for (const item of this.pendingItems) this.settle(item.waiter.timer, () => item.waiter.reject(shutdown));
    this.pendingItems = [];
    await this.advanceChain;
    await this.applyChain;
    if (this.deferredHardState && this.fatalError === undefined) {
      await this.save({ hardState: this.deferredHardState, entries: [], sync: false });
      this.deferredHardState = null;
    }
    for (const waiter of this.proposals.values()) {
      this.settle(waiter.timer, () => waiter.reject(new RaftkvError('OUTCOME_UNKNOWN')));
    }
    this.proposals.clear();
    for (const waiter of this.reads.values()) this.settle(waiter.timer, () => waiter.reject(shutdown));
    this.reads.clear();
  }
}
