// The pure consensus core (etcd raft's shape): step(message), tick(), ready(), advance().
// No I/O, no clock, no randomness of its own: the driver persists, sends and applies what
// ready() hands out, and the PRNG comes in through the options.
import { assert, unreachable } from '../assert.js';
import { type RaftConfig, validateRaftConfig } from '../config.js';
import { RaftLog } from './log.js';
import type {
  AppendMessage,
  AppendResponseMessage,
  Entry,
  HardState,
  HeartbeatResponseMessage,
  Message,
  NodeId,
  VoteMessage,
  VoteResponseMessage,
} from './messages.js';
import { noNode } from './messages.js';
import { Progress } from './progress.js';
import { type PendingRead, ReadOnlyQueue } from './read-only.js';
import type { Storage } from './storage.js';

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** A read confirmed at `index` (serve it once applied >= index), or refused (null). */
export interface ReadState {
  readId: number;
  index: number | null;
}

export interface Ready {
  role: Role;
  term: number;
  leaderId: NodeId;
  /** Persist when non-null, in the same write as `entries`. */
  hardState: HardState | null;
  /** The write must be fsync'd: it holds entries, or a term or vote. A commit index alone need not be. */
  mustSync: boolean;
  /** Persist (appending; a conflicting suffix on disk is dropped). */
  entries: Entry[];
  /** Apply in order, after this Ready is persisted. */
  committedEntries: Entry[];
  /** Leader traffic that may go out before this Ready is persisted. */
  messagesNow: Message[];
  /** Votes and acknowledgements: send only once this Ready is persisted. */
  messagesAfterPersist: Message[];
  readStates: ReadState[];
}

export type ProposeResult =
  | { ok: true; firstIndex: number; term: number }
  | { ok: false; reason: 'notLeader' | 'transferring' | 'tooMany' };

export interface ProposedItem {
  type: 'normal' | 'config';
  data: Uint8Array;
}

export interface RaftOptions {
  id: NodeId;
  storage: Storage;
  config: RaftConfig;
  /** Seeded in the simulator; [0, 1). */
  random: () => number;
  /** The state machine's applied index at start-up. */
  applied?: number;
  /**
   * Default true: this node may have acknowledged a leader's heartbeat just before it
   * (re)started and forgotten it, so it refuses to vote for one election timeout, keeping that
   * leader's lease valid. A test that builds a cluster from nothing may turn it off.
   */
  honourForgottenLease?: boolean;
}

export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId;
  leaderId: NodeId;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  leadTransferee: NodeId;
}

const emptyData = new Uint8Array(0);

export class Raft {
  readonly id: NodeId;
  private readonly config: RaftConfig;
  private readonly random: () => number;
  private readonly log: RaftLog;

  private role: Role = 'follower';
  private term = 0;
  private vote: NodeId = noNode;
  private leaderId: NodeId = noNode;
  private voters: Set<NodeId>;
  private learners: Set<NodeId>;

  /** Leader only: replication state of every member, this node included. */
  private progress = new Map<NodeId, Progress>();
  /** Candidates only: the answers received, true = granted. */
  private votes = new Map<NodeId, boolean>();

  /** Ticks since this node last heard from a valid leader (follower) or ran CheckQuorum (leader). */
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  /** Ticks without a word from a leader after which this node campaigns (see electionTimeoutFor). */
  private electionTimeout = 0;
  /** Ticks since this Raft instance started (the leader's lease clock). */
  private ticksSinceStart = 0;
  /** Until this tick, votes are refused as if a leader had been heard (see honourForgottenLease). */
  private readonly forgottenLeaseTicks: number;
  /**
   * Vote requests that came while this node was in a leader's lease, the newest per candidate,
   * with the tick each came at: answered at the tick the lease ends (see holdVoteRequest).
   */
  private readonly heldVoteRequests = new Map<NodeId, { message: VoteMessage; heldAtTick: number }>();
  /**
   * Follower only: the voters that granted the pre-votes it asked for ahead of its election
   * timeout, for the term after its own (see askForPreVotesEarly); null when it has not asked.
   * Dropped when it hears a leader, and whenever its term or role changes.
   */
  private earlyPreVoteGrants: Set<NodeId> | null = null;

  /** Leader only: the node leadership is being handed to, and for how long we have tried. */
  private leadTransferee: NodeId = noNode;
  private transferElapsed = 0;
  /** Leader only: once a TimeoutNow may be out, this term's lease can no longer be trusted. */
  private leaseForfeited = false;

  /** Leader only: heartbeat rounds, for ReadIndex and the lease. */
  private round = 0;
  /** A round whose heartbeats are not yet handed to the driver: new reads can still join it. */
  private openRound = 0;
  /** The tick at which each unconfirmed round was sent. */
  private roundSentTick = new Map<number, number>();
  /** The tick at which the newest quorum-confirmed round was sent; the lease runs from there. */
  private leaseStartTick = Number.NEGATIVE_INFINITY;
  private readOnly: ReadOnlyQueue;
  /** Reads that arrived before this leader committed an entry of its term (Raft thesis §6.4). */
  private readsAwaitingCommit: PendingRead[] = [];
  /**
   * The commit index moved and some follower has not been sent it. It rides on the next
   * AppendEntries with entries; the driver calls broadcastCommit() shortly after if none went
   * (and tick() does at the latest), so under load no follower gets an append for the commit
   * index alone, and answers it, once per entry.
   */
  private commitBroadcastDue = false;

  private messagesNow: Message[] = [];
  private messagesAfterPersist: Message[] = [];
  private readStates: ReadState[] = [];
  /** The hard state last handed to the driver to persist (its save may still be in flight). */
  private handedOutHardState: HardState;
  private reportedSoftState = '';

  constructor(options: RaftOptions) {
    this.id = options.id;
    this.config = validateRaftConfig(options.config);
    this.random = options.random;
    this.log = new RaftLog(options.storage, options.applied ?? 0);
    const hardState = options.storage.hardState();
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.handedOutHardState = hardState;
    const config = options.storage.snapshotMeta().config;
    this.voters = new Set(config.voters);
    this.learners = new Set(config.learners);
    this.readOnly = new ReadOnlyQueue(this.config.pendingReadsMax);
    this.forgottenLeaseTicks =
      options.honourForgottenLease === false ? 0 : this.config.electionTimeoutTicksMin;
    this.becomeFollower(this.term, noNode);
  }

  // ---- inputs ---------------------------------------------------------------------------------

  tick(): void {
    this.ticksSinceStart++;
    if (this.role === 'leader') {
      this.tickLeader();
    } else {
      this.electionElapsed++;
      if (this.isPromotable() && this.electionElapsed >= this.electionTimeout) {
        this.electionElapsed = 0;
        this.campaign();
      } else if (this.electionElapsed === this.electionTimeout - this.config.preVoteLeadTicks) {
        this.askForPreVotesEarly();
      }
    }
    this.releaseHeldVoteRequests();
  }

  /** Starts an election now (PreVote first when enabled). */
  campaign(): void {
    if (this.role === 'leader' || !this.isPromotable()) return;
    if (this.config.preVote) {
      const granted = this.earlyPreVoteGrants ?? undefined;
      this.becomePreCandidate();
      this.requestVotes('preVote', false, granted);
    } else {
      this.becomeCandidate();
      this.requestVotes('vote', false);
    }
  }

  propose(items: readonly ProposedItem[], stampMs: number): ProposeResult {
    if (this.role !== 'leader') return { ok: false, reason: 'notLeader' };
    if (this.leadTransferee !== noNode) return { ok: false, reason: 'transferring' };
    const uncommitted = this.log.lastIndex() - this.log.committed;
    if (uncommitted + items.length > this.config.uncommittedEntriesMax)
      return { ok: false, reason: 'tooMany' };
    const firstIndex = this.log.lastIndex() + 1;
    this.appendAsLeader(items, stampMs);
    this.broadcastAppend();
    return { ok: true, firstIndex, term: this.term };
  }

  /** Asks for a read index; the answer comes in a later Ready's readStates. */
  readIndex(readId: number, mode: 'readIndex' | 'lease'): void {
    if (this.role === 'leader') {
      this.leaderRead({ readId, from: this.id, index: 0 }, mode);
    } else if (this.role === 'follower' && this.leaderId !== noNode) {
      this.send({ type: 'readIndex', from: this.id, to: this.leaderId, term: this.term, readId });
    } else {
      this.readStates.push({ readId, index: null });
    }
  }

  transferLeader(target: NodeId): void {
    if (this.role === 'leader') {
      this.startTransfer(target);
    } else if (this.leaderId !== noNode) {
      this.send({ type: 'transferLeader', from: this.id, to: this.leaderId, term: this.term, target });
    }
  }

  step(message: Message): void {
    assert(message.to === this.id, () => `message for ${message.to} delivered to ${this.id}`);
    if (message.from === this.id) return;
    if (message.term > this.term) {
      if (!this.acceptHigherTerm(message)) return;
    } else if (message.term < this.term) {
      this.answerStaleTerm(message);
      return;
    }
    this.stepCurrentTerm(message);
  }

  // ---- term handling --------------------------------------------------------------------------

  /** A message from a higher term: false when it is to be ignored. */
  private acceptHigherTerm(message: Message): boolean {
    const isVoteRequest = message.type === 'vote' || message.type === 'preVote';
    if (isVoteRequest && !message.transfer && this.inLease()) {
      // CheckQuorum: we heard from a live leader within the election timeout, so this
      // candidate must not disrupt it (a partitioned or removed node coming back).
      this.holdVoteRequest(message);
      return false;
    }
    if (message.type === 'preVote') return true;
    if (message.type === 'preVoteResp' && !message.reject) return true;
    const leader = message.type === 'app' || message.type === 'heartbeat' ? message.from : noNode;
    this.becomeFollower(message.term, leader);
    return true;
  }

  private answerStaleTerm(message: Message): void {
    if (message.type === 'app' || message.type === 'heartbeat') {
      // Tell a deposed leader (maybe cut off and back) about the newer term so it steps down.
      this.send({
        type: 'appResp',
        from: this.id,
        to: message.from,
        term: this.term,
        index: 0,
        reject: true,
        rejectHint: 0,
        logTermHint: 0,
      });
    } else if (message.type === 'preVote') {
      this.send({ type: 'preVoteResp', from: this.id, to: message.from, term: this.term, reject: true });
    }
  }

  /**
   * Keeps a vote request this node's lease made it ignore, to be stepped again at the tick the
   * lease ends: a follower one tick behind the candidate in counting the dead leader's silence
   * then answers a tick later instead of never (the candidate would wait out a whole new
   * timeout). Answering then is what the request would get had it been delayed in the network
   * until then, so nothing about the lease changes. A live leader keeps the lease going, and a
   * held request is dropped once it is electionTimeoutTicksMin ticks old: a cut-off node's
   * requests are never answered late. Only voters' requests are kept, one per candidate.
   */
  private holdVoteRequest(message: VoteMessage): void {
    if (!this.voters.has(message.from)) return;
    this.heldVoteRequests.set(message.from, { message, heldAtTick: this.ticksSinceStart });
  }

  private releaseHeldVoteRequests(): void {
    if (this.heldVoteRequests.size === 0) return;
    const held = [...this.heldVoteRequests.values()];
    this.heldVoteRequests.clear();
    for (const { message, heldAtTick } of held) {
      if (this.ticksSinceStart - heldAtTick >= this.config.electionTimeoutTicksMin) continue;
      if (this.inLease()) this.heldVoteRequests.set(message.from, { message, heldAtTick });
      else this.step(message);
    }
  }

  /**
   * A follower that has heard no leader for its election timeout less preVoteLeadTicks asks for
   * the pre-votes of the campaign it may start, and stays a follower. Voters still in the dead
   * leader's lease hold the request and answer it at the tick their lease ends, which on their
   * own clocks may come before this node's timeout: the answers are then already in when it
   * campaigns, and it goes on to the vote at once instead of spending a round trip on PreVote.
   * A pre-vote changes nothing at a voter, so asking early disturbs nothing; a live leader's next
   * message drops what was granted (a grant counts only between the asking and the timeout).
   */
  private askForPreVotesEarly(): void {
    if (!this.config.preVote || this.role !== 'follower' || !this.isPromotable()) return;
    this.earlyPreVoteGrants = new Set();
    this.sendVoteRequests('preVote', this.term + 1, false);
  }

  private inLease(): boolean {
    if (!this.config.checkQuorum) return false;
    if (this.ticksSinceStart < this.forgottenLeaseTicks) return true;
    return this.leaderId !== noNode && this.electionElapsed < this.config.electionTimeoutTicksMin;
  }

  private stepCurrentTerm(message: Message): void {
    switch (message.type) {
      case 'vote':
      case 'preVote':
        this.handleVoteRequest(message);
        return;
      case 'voteResp':
      case 'preVoteResp':
        this.handleVoteResponse(message);
        return;
      case 'app':
      case 'heartbeat':
        if (this.role === 'leader') return;
        if (this.role !== 'follower' || this.leaderId !== message.from)
          this.becomeFollower(this.term, message.from);
        this.electionElapsed = 0;
        this.earlyPreVoteGrants = null;
        if (message.type === 'app') {
          this.handleAppend(message);
        } else {
          this.log.commitTo(Math.min(message.commit, this.log.lastIndex()));
          this.send({
            type: 'heartbeatResp',
            from: this.id,
            to: message.from,
            term: this.term,
            round: message.round,
          });
        }
        return;
      case 'appResp':
        if (this.role === 'leader') this.handleAppendResponse(message);
        return;
      case 'heartbeatResp':
        if (this.role === 'leader') this.handleHeartbeatResponse(message);
        return;
      case 'readIndex':
        if (this.role === 'leader') {
          this.leaderRead({ readId: message.readId, from: message.from, index: 0 }, 'readIndex');
        } else {
          this.refuseRead({ readId: message.readId, from: message.from, index: 0 });
        }
        return;
      case 'readIndexResp':
        this.readStates.push({ readId: message.readId, index: message.index < 0 ? null : message.index });
        return;
      case 'timeoutNow':
        if (this.role === 'follower' && this.isPromotable()) {
          this.becomeCandidate();
          this.requestVotes('vote', true);
        }
        return;
      case 'transferLeader':
        this.transferLeader(message.target);
        return;
      default:
        unreachable(message, 'message');
    }
  }

  // ---- elections ------------------------------------------------------------------------------

  private handleVoteRequest(message: VoteMessage): void {
    const isPreVote = message.type === 'preVote';
    const canVote =
      this.vote === message.from ||
      (this.vote === noNode && this.leaderId === noNode) ||
      (isPreVote && message.term > this.term);
    const upToDate =
      this.config.testFaults?.grantVoteWithoutLogCheck ||
      this.log.isUpToDate(message.lastIndex, message.lastTerm);
    const responseType = isPreVote ? 'preVoteResp' : 'voteResp';
    if (canVote && upToDate) {
      // A granted vote carries the candidate's term, so a pre-candidate can count it.
      this.send({ type: responseType, from: this.id, to: message.from, term: message.term, reject: false });
      if (!isPreVote) {
        this.electionElapsed = 0;
        this.vote = message.from;
      }
    } else {
      this.send({ type: responseType, from: this.id, to: message.from, term: this.term, reject: true });
    }
  }

  private handleVoteResponse(message: VoteResponseMessage): void {
    if (this.role === 'follower') {
      const asked = message.type === 'preVoteResp' && message.term === this.term + 1;
      if (asked && !message.reject) this.earlyPreVoteGrants?.add(message.from);
      return;
    }
    const expected =
      this.role === 'preCandidate' ? 'preVoteResp' : this.role === 'candidate' ? 'voteResp' : null;
    if (message.type !== expected) return;
    this.votes.set(message.from, !message.reject);
    const outcome = this.tallyVotes();
    if (outcome === 'won') {
      if (this.role === 'preCandidate') {
        this.becomeCandidate();
        this.requestVotes('vote', false);
      } else {
        this.becomeLeader();
      }
    } else if (outcome === 'lost') {
      this.becomeFollower(this.term, noNode);
    }
  }

  private tallyVotes(): 'won' | 'lost' | 'pending' {
    let granted = 0;
    let rejected = 0;
    for (const voter of this.voters) {
      const answer = this.votes.get(voter);
      if (answer === true) granted++;
      if (answer === false) rejected++;
    }
    const quorum = this.quorumSize();
    if (granted >= quorum) return 'won';
    if (rejected > this.voters.size - quorum) return 'lost';
    return 'pending';
  }

  /** Votes for itself and asks the other voters, but those in `granted` (pre-votes asked early). */
  private requestVotes(type: 'vote' | 'preVote', transfer: boolean, granted?: ReadonlySet<NodeId>): void {
    // A pre-candidate asks for the term it would campaign in, without taking it yet.
    const term = type === 'preVote' ? this.term + 1 : this.term;
    this.votes.set(this.id, true);
    for (const voter of granted ?? []) if (this.voters.has(voter)) this.votes.set(voter, true);
    if (this.tallyVotes() === 'won') {
      this.handleVoteResponse({
        type: type === 'preVote' ? 'preVoteResp' : 'voteResp',
        from: this.id,
        to: this.id,
        term,
        reject: false,
      });
      return;
    }
    this.sendVoteRequests(type, term, transfer, granted);
  }

  private sendVoteRequests(
    type: 'vote' | 'preVote',
    term: number,
    transfer: boolean,
    skip?: ReadonlySet<NodeId>,
  ): void {
    for (const voter of this.voters) {
      if (voter === this.id || skip?.has(voter)) continue;
      this.send({
        type,
        from: this.id,
        to: voter,
        term,
        lastIndex: this.log.lastIndex(),
        lastTerm: this.log.lastTerm(),
        transfer,
      });
    }
  }

  private becomeFollower(term: number, leaderId: NodeId): void {
    this.reset(term);
    this.role = 'follower';
    this.leaderId = leaderId;
    this.electionTimeout = this.electionTimeoutFor(leaderId);
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a pre-candidate');
    // The term and vote stay as they are: a pre-vote changes nothing durable.
    this.refuseAllReads();
    this.votes = new Map();
    this.earlyPreVoteGrants = null;
    this.role = 'preCandidate';
    this.leaderId = noNode;
    this.resetElectionTimer();
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader');
    this.reset(this.term);
    this.role = 'leader';
    this.leaderId = this.id;
    for (const member of [...this.voters, ...this.learners]) {
      const progress = new Progress(this.log.lastIndex() + 1, this.config.inflightMessagesMax);
      progress.recentActive = true;
      this.progress.set(member, progress);
    }
    this.selfProgress().maybeUpdate(this.log.lastStableIndex());
    // The no-op lets the leader commit (and so learn) everything committed before it (§5.4.2, §8).
    this.appendAsLeader([{ type: 'noop', data: emptyData }], this.lastStampMs());
    this.broadcastAppend();
  }

  /** Everything volatile that belongs to one term and role starts afresh. */
  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = noNode;
    }
    this.refuseAllReads();
    this.leaderId = noNode;
    this.heartbeatElapsed = 0;
    this.resetElectionTimer();
    this.votes = new Map();
    this.earlyPreVoteGrants = null;
    this.progress = new Map();
    this.leadTransferee = noNode;
    this.transferElapsed = 0;
    this.leaseForfeited = false;
    this.commitBroadcastDue = false;
    this.openRound = 0;
    this.roundSentTick = new Map();
    this.leaseStartTick = Number.NEGATIVE_INFINITY;
  }

  private resetElectionTimer(): void {
    this.electionElapsed = 0;
    this.electionTimeout = this.electionTimeoutFor(noNode);
  }

  /**
   * A follower of a known leader ranks itself among the leader's other voters by id and waits
   * min + rank * stagger ticks, the stagger spreading them over [min, 2*min): when the leader
   * dies, the first of them campaigns at the minimum and the next only `stagger` ticks later, so
   * two rarely start at once (a split vote) and a failover does not wait for the luck of a draw.
   * The others count their ticks since the same last heartbeat on clocks of their own, so at the
   * first one's minimum about half of them are still a tick inside their lease (inLease): they
   * hold its request and answer it at the tick their lease ends (holdVoteRequest). Without a
   * known leader (at start, as a candidate, after a lost election) nodes may rank alike, so the
   * timeout is drawn in [min, 2*min) (Raft §5.2). Either way it is at least min, which lease
   * reads rely on.
   */
  private electionTimeoutFor(leaderId: NodeId): number {
    const min = this.config.electionTimeoutTicksMin;
    const others =
      leaderId === noNode ? [] : [...this.voters].filter((voter) => voter !== leaderId).sort((a, b) => a - b);
    const rank = others.indexOf(this.id);
    if (rank < 0) return min + Math.floor(this.random() * min);
    const stagger = Math.max(1, Math.floor((min - 1) / others.length));
    return Math.min(2 * min - 1, min + rank * stagger);
  }

  private isPromotable(): boolean {
    return this.voters.has(this.id);
  }

  private quorumSize(): number {
    return Math.floor(this.voters.size / 2) + 1;
  }

  // ---- replication (follower side) --------------------------------------------------------------

  private handleAppend(message: AppendMessage): void {
    const reply = { type: 'appResp' as const, from: this.id, to: message.from, term: this.term };
    if (message.index < this.log.committed) {
      this.send({ ...reply, index: this.log.committed, reject: false, rejectHint: 0, logTermHint: 0 });
      return;
    }
    const lastNewIndex = this.log.maybeAppend(
      message.index,
      message.logTerm,
      message.commit,
      message.entries,
    );
    if (lastNewIndex !== null) {
      this.send({ ...reply, index: lastNewIndex, reject: false, rejectHint: 0, logTermHint: 0 });
      return;
    }
    const hintIndex = this.log.findConflictByTerm(
      Math.min(message.index, this.log.lastIndex()),
      message.logTerm,
    );
    this.send({
      ...reply,
      index: message.index,
      reject: true,
      rejectHint: hintIndex,
      logTermHint: this.log.term(hintIndex) ?? 0,
    });
  }

  // ---- replication (leader side) ----------------------------------------------------------------

  private selfProgress(): Progress {
    const progress = this.progress.get(this.id);
    assert(progress, 'a leader tracks its own progress');
    return progress;
  }

  private lastStampMs(): number {
    const lastIndex = this.log.lastIndex();
    if (lastIndex < this.log.firstIndex()) return 0;
    return this.log.entries(lastIndex, lastIndex + 1, Number.POSITIVE_INFINITY)[0]!.stampMs;
  }

  private appendAsLeader(items: readonly { type: Entry['type']; data: Uint8Array }[], stampMs: number): void {
    // Log time never goes backwards (design.md §3), whatever the driver's clock says.
    const stamp = Math.max(stampMs, this.lastStampMs());
    let index = this.log.lastIndex();
    const entries = items.map((item) => ({
      index: ++index,
      term: this.term,
      type: item.type,
      stampMs: stamp,
      data: item.data,
    }));
    this.log.append(entries);
  }

  private peers(): NodeId[] {
    return [...this.progress.keys()].filter((member) => member !== this.id);
  }

  private broadcastAppend(): void {
    for (const peer of this.peers()) this.sendAppend(peer, true);
  }

  /** Sends the next AppendEntries to `to` unless its window is full; false when nothing went. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const progress = this.progress.get(to);
    if (!progress || progress.isPaused()) return false;
    const prevIndex = progress.next - 1;
    const prevTerm = this.log.term(prevIndex);
    // Log compaction (and with it InstallSnapshot) arrives with the snapshot issue; until then
    // no entry a follower may need is ever dropped.
    assert(prevTerm !== undefined, () => `entry ${prevIndex} for ${to} is compacted away`);
    const hi = Math.min(this.log.lastIndex() + 1, progress.next + this.config.appendEntriesCountMax);
    const entries = this.log.entries(progress.next, hi, this.config.appendBytesMax);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({
      type: 'app',
      from: this.id,
      to,
      term: this.term,
      index: prevIndex,
      logTerm: prevTerm,
      entries,
      commit: this.log.committed,
    });
    progress.sentCommit = Math.max(progress.sentCommit, this.log.committed);
    if (progress.state === 'replicate' && entries.length > 0) {
      progress.sentUpTo(entries.at(-1)!.index);
    } else if (progress.state === 'probe') {
      progress.probeSent = true;
    }
    return true;
  }

  private handleAppendResponse(message: AppendResponseMessage): void {
    const progress = this.progress.get(message.from);
    if (!progress) return;
    progress.recentActive = true;
    if (message.reject) {
      const hint =
        message.logTermHint > 0
          ? this.log.findConflictByTerm(message.rejectHint, message.logTermHint)
          : message.rejectHint;
      if (progress.maybeDecreaseTo(message.index, hint)) {
        if (progress.state === 'replicate') progress.becomeProbe();
        this.sendAppend(message.from, true);
      }
      return;
    }
    if (progress.maybeUpdate(message.index)) {
      if (progress.state === 'probe') progress.becomeReplicate();
      else progress.inflights.freeUpTo(message.index);
      if (this.maybeCommit()) {
        this.commitAdvanced();
      } else if (progress.sentCommit < Math.min(progress.match, this.log.committed)) {
        // A follower not sent the commit index yet (it acked after the quorum did, or was being
        // probed): it gets it with the next entries or when the linger runs out, like the rest.
        this.commitBroadcastDue = true;
      }
      while (this.sendAppend(message.from, false)) {}
    }
    if (message.from === this.leadTransferee && progress.match === this.log.lastIndex()) {
      this.sendTimeoutNow(message.from);
    }
  }

  /** Sends entries waiting for any follower (they carry the new commit index); the rest waits. */
  private commitAdvanced(): void {
    for (const peer of this.peers()) this.sendAppend(peer, false);
    this.commitBroadcastDue = true;
  }

  /** A follower has not been sent the leader's commit index yet (see commitBroadcastDue). */
  hasCommitToBroadcast(): boolean {
    return this.commitBroadcastDue;
  }

  /** Sends the commit index to every follower that has not been sent it, with or without entries. */
  broadcastCommit(): void {
    if (!this.commitBroadcastDue || this.role !== 'leader') return;
    this.commitBroadcastDue = false;
    for (const peer of this.peers()) {
      if (this.progress.get(peer)!.sentCommit < this.log.committed) this.sendAppend(peer, true);
    }
  }

  /** Commits the highest index a quorum holds, if it is of this term (Raft §5.4.2). */
  private maybeCommit(): boolean {
    const matches = [...this.voters]
      .map((voter) => this.progress.get(voter)?.match ?? 0)
      .sort((a, b) => b - a);
    const quorumIndex = matches[this.quorumSize() - 1] ?? 0;
    if (quorumIndex <= this.log.committed) return false;
    const ofThisTerm = this.log.term(quorumIndex) === this.term;
    if (!ofThisTerm && !this.config.testFaults?.commitOlderTermsByCount) return false;
    this.log.commitTo(quorumIndex);
    if (this.log.term(this.log.committed) === this.term) this.releaseReadsAwaitingCommit();
    return true;
  }

  // ---- heartbeats, CheckQuorum, lease ------------------------------------------------------------

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.config.electionTimeoutTicksMin) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, noNode);
        return;
      }
    }
    if (this.leadTransferee !== noNode && ++this.transferElapsed >= this.config.electionTimeoutTicksMin) {
      this.leadTransferee = noNode;
    }
    this.broadcastCommit();
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  /** CheckQuorum: a quorum was heard from since the last check (then the flags are cleared). */
  private quorumActive(): boolean {
    let active = 0;
    for (const voter of this.voters) {
      const progress = this.progress.get(voter);
      if (voter === this.id || progress?.recentActive) active++;
      if (progress && voter !== this.id) progress.recentActive = false;
    }
    return active >= this.quorumSize();
  }

  /** Starts a heartbeat round and returns its number. */
  private broadcastHeartbeat(): number {
    this.round++;
    this.openRound = this.round;
    this.roundSentTick.set(this.round, this.ticksSinceStart);
    this.selfProgress().ackedRound = this.round;
    for (const peer of this.peers()) {
      const progress = this.progress.get(peer)!;
      this.send({
        type: 'heartbeat',
        from: this.id,
        to: peer,
        term: this.term,
        commit: Math.min(progress.match, this.log.committed),
        round: this.round,
      });
    }
    this.confirmRounds();
    return this.round;
  }

  private handleHeartbeatResponse(message: HeartbeatResponseMessage): void {
    const progress = this.progress.get(message.from);
    if (!progress) return;
    progress.recentActive = true;
    progress.probeSent = false;
    if (progress.state === 'replicate' && progress.inflights.full()) progress.inflights.freeFirst();
    if (progress.match < this.log.lastIndex()) this.sendAppend(message.from, true);
    if (message.round > progress.ackedRound && message.round <= this.round) {
      progress.ackedRound = message.round;
      this.confirmRounds();
    }
  }

  /** The newest round a quorum of voters has acknowledged releases reads and renews the lease. */
  private confirmRounds(): void {
    const acked = [...this.voters]
      .map((voter) => this.progress.get(voter)?.ackedRound ?? 0)
      .sort((a, b) => b - a);
    const confirmedRound = acked[this.quorumSize() - 1] ?? 0;
    const sentTick = this.roundSentTick.get(confirmedRound);
    if (sentTick !== undefined) {
      this.leaseStartTick = Math.max(this.leaseStartTick, sentTick);
      for (const round of this.roundSentTick.keys()) {
        if (round <= confirmedRound) this.roundSentTick.delete(round);
      }
    }
    for (const read of this.readOnly.confirm(confirmedRound)) this.answerRead(read, read.index);
  }

  /**
   * Voters that acknowledged a heartbeat refuse other candidates for electionTimeoutTicksMin
   * after receiving it; the lease ends earlier by the clock-drift bound.
   */
  private leaseValid(): boolean {
    if (this.config.testFaults?.leaseReadsWithoutLease) return true;
    if (!this.config.checkQuorum || this.leaseForfeited) return false;
    const leaseTicks = this.config.electionTimeoutTicksMin - this.config.leaseDriftTicks;
    return this.ticksSinceStart < this.leaseStartTick + leaseTicks;
  }

  // ---- reads --------------------------------------------------------------------------------------

  private leaderRead(read: PendingRead, mode: 'readIndex' | 'lease'): void {
    if (this.readOnly.isFull()) {
      this.refuseRead(read);
      return;
    }
    if (this.log.term(this.log.committed) !== this.term) {
      // Until the no-op of this term commits, our commit index may be behind the cluster's.
      this.readsAwaitingCommit.push(read);
      return;
    }
    const withIndex = { ...read, index: this.log.committed };
    if (this.voters.size === 1 || (mode === 'lease' && this.leaseValid())) {
      this.answerRead(withIndex, withIndex.index);
      return;
    }
    const round = this.openRound !== 0 ? this.openRound : this.broadcastHeartbeat();
    this.readOnly.add(round, withIndex);
    this.confirmRounds();
  }

  private releaseReadsAwaitingCommit(): void {
    const reads = this.readsAwaitingCommit;
    this.readsAwaitingCommit = [];
    for (const read of reads) this.leaderRead(read, 'readIndex');
  }

  private answerRead(read: PendingRead, index: number | null): void {
    if (read.from === this.id) {
      this.readStates.push({ readId: read.readId, index });
    } else {
      this.send({
        type: 'readIndexResp',
        from: this.id,
        to: read.from,
        term: this.term,
        readId: read.readId,
        index: index ?? -1,
      });
    }
  }

  private refuseRead(read: PendingRead): void {
    this.answerRead(read, null);
  }

  private refuseAllReads(): void {
    const reads = [...this.readOnly.drain(), ...this.readsAwaitingCommit];
    this.readsAwaitingCommit = [];
    for (const read of reads) this.refuseRead(read);
  }

  // ---- leader transfer ------------------------------------------------------------------------------

  private startTransfer(target: NodeId): void {
    if (target === this.id || !this.voters.has(target) || this.leadTransferee === target) return;
    this.leadTransferee = target;
    this.transferElapsed = 0;
    const progress = this.progress.get(target)!;
    if (progress.match === this.log.lastIndex()) {
      this.sendTimeoutNow(target);
    } else {
      this.sendAppend(target, true);
    }
  }

  private sendTimeoutNow(to: NodeId): void {
    // The target will campaign at once, skipping the voters' lease check: our lease ends now
    // (hashicorp/raft's TLA+ finding: drop the lease before TimeoutNow).
    this.leaseForfeited = true;
    this.send({ type: 'timeoutNow', from: this.id, to, term: this.term });
  }

  // ---- output -------------------------------------------------------------------------------------

  private send(message: Message): void {
    const leaderTraffic =
      this.role === 'leader' &&
      (message.type === 'app' ||
        message.type === 'heartbeat' ||
        message.type === 'timeoutNow' ||
        message.type === 'readIndexResp');
    const earlyAck = message.type === 'appResp' && this.config.testFaults?.ackBeforePersist;
    if (leaderTraffic || earlyAck) {
      this.messagesNow.push(message);
    } else {
      this.messagesAfterPersist.push(message);
    }
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private hardStateChanged(): boolean {
    const current = this.hardState();
    const handedOut = this.handedOutHardState;
    return (
      current.term !== handedOut.term ||
      current.vote !== handedOut.vote ||
      current.commit !== handedOut.commit
    );
  }

  private softState(): string {
    return `${this.role}/${this.term}/${this.leaderId}`;
  }

  /**
   * Leader traffic (appends, heartbeats) may go out at any time, also while an earlier Ready is
   * being persisted: followers then write in parallel with the leader's own fsync.
   */
  takeMessagesNow(): Message[] {
    const messages = this.messagesNow;
    this.messagesNow = [];
    // The open round's heartbeats are on their way: a read arriving now must not join it.
    this.openRound = 0;
    return messages;
  }

  hasReady(): boolean {
    return (
      this.messagesNow.length > 0 ||
      this.messagesAfterPersist.length > 0 ||
      this.readStates.length > 0 ||
      this.log.hasEntriesToPersist() ||
      this.log.hasEntriesToApply() ||
      this.hardStateChanged() ||
      this.softState() !== this.reportedSoftState
    );
  }

  /**
   * Hands out everything to do now. The driver may take the next Ready before this one is
   * advanced (several saves in flight, in order), but must advance them in the order taken.
   */
  ready(): Ready {
    const hardState = this.hardStateChanged() ? this.hardState() : null;
    const entries = this.log.takeEntriesToPersist();
    const ready: Ready = {
      role: this.role,
      term: this.term,
      leaderId: this.leaderId,
      hardState,
      mustSync:
        entries.length > 0 ||
        this.term !== this.handedOutHardState.term ||
        this.vote !== this.handedOutHardState.vote,
      entries,
      committedEntries: this.log.takeEntriesToApply(
        this.config.applyEntriesCountMax,
        this.config.appendBytesMax,
      ),
      messagesNow: this.messagesNow,
      messagesAfterPersist: this.messagesAfterPersist,
      readStates: this.readStates,
    };
    if (hardState) this.handedOutHardState = hardState;
    this.messagesNow = [];
    this.messagesAfterPersist = [];
    this.readStates = [];
    this.openRound = 0;
    this.reportedSoftState = this.softState();
    return ready;
  }

  /** The Ready's entries and hard state are on disk, and its committed entries are being applied. */
  advance(ready: Ready): void {
    const lastPersisted = ready.entries.at(-1);
    if (lastPersisted) this.log.stableTo(lastPersisted.index, lastPersisted.term);
    const lastApplied = ready.committedEntries.at(-1);
    if (lastApplied) this.log.appliedTo(lastApplied.index);
    // The leader counts itself toward commit only for entries on its own disk.
    if (this.role === 'leader' && this.selfProgress().maybeUpdate(this.log.lastStableIndex())) {
      if (this.maybeCommit()) this.commitAdvanced();
    }
  }

  // ---- introspection ------------------------------------------------------------------------------

  /** The role and the known leader (0 when none): what a write asks before proposing, without status()'s copy. */
  leadership(): { role: Role; leaderId: NodeId } {
    return { role: this.role, leaderId: this.leaderId };
  }

  /** The highest index known committed. */
  commitIndex(): number {
    return this.log.committed;
  }

  currentTerm(): number {
    return this.term;
  }

  status(): RaftStatus {
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leaderId: this.leaderId,
      commitIndex: this.log.committed,
      appliedIndex: this.log.applied,
      lastIndex: this.log.lastIndex(),
      leadTransferee: this.leadTransferee,
    };
  }

  /** The term of the entry at `index` (stable or not), undefined when absent. */
  logTerm(index: number): number | undefined {
    return this.log.term(index);
  }

  logEntries(lo: number, hi: number): Entry[] {
    return this.log.entries(lo, hi, Number.POSITIVE_INFINITY);
  }

  members(): { voters: NodeId[]; learners: NodeId[] } {
    return { voters: [...this.voters], learners: [...this.learners] };
  }
}
