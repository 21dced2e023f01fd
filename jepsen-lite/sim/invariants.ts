// Raft's safety properties (Raft paper, Figure 3) plus the store's own, checked after every
// simulated event. Each check is incremental (a few map look-ups per event or per entry), so
// checking after every event costs little more than the event itself.
import type { Entry, Message, NodeId } from '../../src/raft/messages.js';
import type { RaftStatus } from '../../src/raft/raft.js';
import type { SimNode } from './sim-node.js';

export class SafetyViolation extends Error {
  override name = 'SafetyViolation';
  constructor(
    readonly invariant: string,
    message: string,
  ) {
    super(`${invariant}: ${message}`);
  }
}

function violated(invariant: string, message: string): never {
  throw new SafetyViolation(invariant, message);
}

// ---- hashing (32-bit FNV-1a; a collision could only hide a violation, never invent one) ----

const fnvOffset = 0x811c9dc5;
const fnvPrime = 0x01000193;

function mix(hash: number, value: number): number {
  let mixed = hash;
  for (let shift = 0; shift < 32; shift += 8) mixed = Math.imul(mixed ^ ((value >>> shift) & 0xff), fnvPrime);
  return mixed >>> 0;
}

/** A hash of everything an entry carries. */
function entryHash(entry: Entry): number {
  let hash = mix(mix(mix(mix(fnvOffset, entry.index), entry.term), entry.stampMs), entry.type.length);
  for (const byte of entry.data) hash = Math.imul(hash ^ byte, fnvPrime) >>> 0;
  return hash;
}

/** Terms stay below this, so index * termKeyBase + term names an (index, term) pair uniquely. */
const termKeyBase = 1 << 20;

function indexTermKey(index: number, term: number): number {
  if (term >= termKeyBase) violated('Sanity', `term ${term} beyond what the checker can key`);
  return index * termKeyBase + term;
}

/** What the checker remembers about one node during one life of its Raft instance. */
interface NodeWatch {
  commitIndex: number;
  appliedIndex: number;
  lastAppliedStampMs: number;
  /** Set while the node is leader: the term, and the last entry it had when last looked at. */
  leaderTerm: number | null;
  leaderLastIndex: number;
  leaderLastTerm: number;
}

function freshWatch(commitIndex: number): NodeWatch {
  return {
    commitIndex,
    appliedIndex: 0,
    lastAppliedStampMs: 0,
    leaderTerm: null,
    leaderLastIndex: 0,
    leaderLastTerm: 0,
  };
}

export class InvariantChecker {
  /** Election Safety: the one leader of each term, ever. */
  private readonly leaderByTerm = new Map<number, NodeId>();
  /** Log Matching: (index, term) -> chained hash of the whole log prefix up to that entry. */
  private readonly prefixHashByIndexTerm = new Map<number, number>();
  /** Each node's persisted log as chained prefix hashes: position i holds index i + 1. */
  private readonly persistedPrefixHashes = new Map<NodeId, number[]>();
  /** State Machine Safety: the entry (hash) applied at each index, by whichever node applied it first. */
  private readonly appliedHashByIndex: number[] = [];
  /** The highest index known committed anywhere, and the term of each committed index. */
  private committedIndex = 0;
  private readonly committedTerms: number[] = [];
  /** No acknowledged write lost: index -> term of each entry whose write a client saw succeed. */
  private readonly acknowledgedTerms = new Map<number, number>();
  private highestAcknowledgedIndex = 0;
  private readonly watches = new Map<NodeId, NodeWatch>();

  /** A node (re)started: its volatile state begins anew from what its disk holds. */
  nodeStarted(node: SimNode): void {
    this.watches.set(node.id, freshWatch(node.storage.hardState().commit));
  }

  /** Log Matching, on every write to a node's disk. */
  persisted(node: SimNode, entries: readonly Entry[]): void {
    const hashes = this.persistedPrefixHashes.get(node.id) ?? [];
    this.persistedPrefixHashes.set(node.id, hashes);
    hashes.length = entries[0]!.index - 1;
    for (const entry of entries) {
      const prefixHash = mix(hashes.at(-1) ?? fnvOffset, entryHash(entry));
      hashes.push(prefixHash);
      const key = indexTermKey(entry.index, entry.term);
      const known = this.prefixHashByIndexTerm.get(key);
      if (known === undefined) {
        this.prefixHashByIndexTerm.set(key, prefixHash);
      } else if (known !== prefixHash) {
        violated(
          'Log Matching',
          `n${node.id} holds ${entry.index}@${entry.term} with a log prefix unlike another node's`,
        );
      }
    }
  }

  /** State Machine Safety and monotonic stamps, on every entry a node applies. */
  applied(node: SimNode, entry: Entry): void {
    const watch = this.watch(node);
    if (entry.index !== watch.appliedIndex + 1) {
      violated('Apply Order', `n${node.id} applied ${entry.index} after ${watch.appliedIndex}`);
    }
    watch.appliedIndex = entry.index;
    const hash = entryHash(entry);
    const known = this.appliedHashByIndex[entry.index];
    if (known === undefined) {
      this.appliedHashByIndex[entry.index] = hash;
    } else if (known !== hash) {
      violated(
        'State Machine Safety',
        `n${node.id} applied a different entry at ${entry.index} (term ${entry.term})`,
      );
    }
    if (entry.stampMs < watch.lastAppliedStampMs) {
      violated(
        'Stamps Monotonic',
        `n${node.id} applied ${entry.index} stamped ${entry.stampMs} after ${watch.lastAppliedStampMs}`,
      );
    }
    watch.lastAppliedStampMs = entry.stampMs;
  }

  /**
   * Durability (design.md §2): a vote or an append acknowledgement leaves a node only once
   * what it vouches for is on the node's disk.
   */
  sent(node: SimNode, message: Message): void {
    const disk = node.storage;
    // An ack of an older term may trail behind a newer leader's entries that overwrote, in
    // memory, the ones it acknowledged (etcd does the same): the node's disk is in a later
    // term by then, and quorum intersection keeps the old leader from committing on it.
    const diskStillInAckedTerm = disk.hardState().term <= message.term;
    if (
      message.type === 'appResp' &&
      !message.reject &&
      message.index > disk.lastIndex() &&
      diskStillInAckedTerm
    ) {
      violated('Persist Before Ack', `n${node.id} acknowledged ${message.index} before it was on its disk`);
    }
    if (message.type === 'voteResp' && !message.reject) {
      // A disk already in a later term is as good: the node can never vote in this term again.
      const { term, vote } = disk.hardState();
      if (term < message.term || (term === message.term && vote !== message.to)) {
        violated(
          'Persist Before Ack',
          `n${node.id} granted its term ${message.term} vote before it was on its disk`,
        );
      }
    }
  }

  /** A client saw the write in this entry succeed: from now on it must never be lost. */
  acknowledged(entry: Entry): void {
    this.acknowledgedTerms.set(entry.index, entry.term);
    this.highestAcknowledgedIndex = Math.max(this.highestAcknowledgedIndex, entry.index);
  }

  /** The checks on each running node's core, after every event. */
  afterEvent(nodes: readonly SimNode[]): void {
    for (const node of nodes) {
      const raft = node.raft;
      if (raft === null) continue;
      const status = raft.status();
      const watch = this.watch(node);
      this.checkCommit(node, status, watch);
      if (status.role === 'leader') {
        this.checkLeader(node, status, watch);
      } else {
        watch.leaderTerm = null;
      }
    }
  }

  /** At the end of a run: each acknowledged write is in the log of every node that committed its index. */
  checkAcknowledgedWritesKept(nodes: readonly SimNode[]): void {
    for (const node of nodes) {
      const commitIndex = node.raft?.status().commitIndex ?? 0;
      for (const [index, term] of this.acknowledgedTerms) {
        if (index <= commitIndex && node.raft?.logTerm(index) !== term) {
          violated('Acknowledged Write Lost', `n${node.id} lacks acknowledged entry ${index}@${term}`);
        }
      }
    }
  }

  private checkCommit(node: SimNode, status: RaftStatus, watch: NodeWatch): void {
    const raft = node.raft!;
    if (status.commitIndex < watch.commitIndex) {
      violated(
        'Commit Monotonic',
        `n${node.id} commit index fell from ${watch.commitIndex} to ${status.commitIndex}`,
      );
    }
    watch.commitIndex = status.commitIndex;
    for (let index = this.committedIndex + 1; index <= status.commitIndex; index++) {
      const term = raft.logTerm(index);
      if (term === undefined) violated('Commit Within Log', `n${node.id} committed ${index} beyond its log`);
      this.committedTerms[index] = term;
      this.committedIndex = index;
    }
    const commitIndex = status.commitIndex;
    if (commitIndex > 0 && raft.logTerm(commitIndex) !== this.committedTerms[commitIndex]) {
      violated(
        'Committed Entries Agree',
        `n${node.id} committed ${commitIndex}@${raft.logTerm(commitIndex)}, but ${commitIndex}@${this.committedTerms[commitIndex]} was committed`,
      );
    }
  }

  private checkLeader(node: SimNode, status: RaftStatus, watch: NodeWatch): void {
    const raft = node.raft!;
    const { term, lastIndex } = status;
    if (watch.leaderTerm === term) {
      if (lastIndex < watch.leaderLastIndex || raft.logTerm(watch.leaderLastIndex) !== watch.leaderLastTerm) {
        violated(
          'Leader Append-Only',
          `leader n${node.id} (term ${term}) lost or rewrote ${watch.leaderLastIndex}@${watch.leaderLastTerm}`,
        );
      }
    } else {
      this.checkNewLeader(node, term);
      watch.leaderTerm = term;
    }
    watch.leaderLastIndex = lastIndex;
    watch.leaderLastTerm = raft.logTerm(lastIndex) ?? 0;
  }

  private checkNewLeader(node: SimNode, term: number): void {
    const raft = node.raft!;
    const otherLeader = this.leaderByTerm.get(term);
    if (otherLeader !== undefined && otherLeader !== node.id) {
      violated('Election Safety', `n${node.id} and n${otherLeader} both led term ${term}`);
    }
    this.leaderByTerm.set(term, node.id);
    // Log Matching (checked on every append) makes the last committed entry stand for all before it.
    const committedTerm = this.committedTerms[this.committedIndex];
    if (this.committedIndex > 0 && raft.logTerm(this.committedIndex) !== committedTerm) {
      violated(
        'Leader Completeness',
        `new leader n${node.id} (term ${term}) lacks committed entry ${this.committedIndex}@${committedTerm}`,
      );
    }
    const acknowledgedTerm = this.acknowledgedTerms.get(this.highestAcknowledgedIndex);
    if (acknowledgedTerm !== undefined && raft.logTerm(this.highestAcknowledgedIndex) !== acknowledgedTerm) {
      violated(
        'Acknowledged Write Lost',
        `new leader n${node.id} (term ${term}) lacks acknowledged entry ${this.highestAcknowledgedIndex}@${acknowledgedTerm}`,
      );
    }
  }

  private watch(node: SimNode): NodeWatch {
    const watch = this.watches.get(node.id);
    if (watch === undefined) return violated('Sanity', `n${node.id} was never started`);
    return watch;
  }
}
