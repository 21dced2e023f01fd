// A tiny synchronous cluster for table-driven scenario tests of the core (etcd's
// raft/testdata style): each step is one readable line, e.g. "isolate 3" or "expect role 1 leader".
import { assert } from '../assert.js';
import { defaultRaftConfig, type RaftConfig } from '../config.js';
import { describeMessage, type Entry, type Message, type NodeId } from './messages.js';
import { Raft, type ReadState } from './raft.js';
import { MemoryStorage } from './storage.js';

interface ScenarioNode {
  raft: Raft;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: Map<number, number | null>;
}

/** Deterministic PRNG (mulberry32) so election timeouts are reproducible. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class ScenarioCluster {
  readonly nodes = new Map<NodeId, ScenarioNode>();
  /** Directed links that drop every message ("from->to"). */
  private readonly cut = new Set<string>();
  readonly trace: string[] = [];
  private readonly stampMs = 0;

  constructor(
    readonly ids: NodeId[],
    readonly config: RaftConfig = defaultRaftConfig,
  ) {
    for (const id of ids) {
      const storage = new MemoryStorage({ voters: ids, learners: [] });
      this.nodes.set(id, this.makeNode(id, storage, false));
    }
  }

  private makeNode(id: NodeId, storage: MemoryStorage, restarted: boolean): ScenarioNode {
    const random = seededRandom(id * 7919);
    const raft = new Raft({ id, storage, config: this.config, random, honourForgottenLease: restarted });
    return { raft, storage, applied: [], readStates: new Map() };
  }

  node(id: NodeId): ScenarioNode {
    const node = this.nodes.get(id);
    assert(node, `no node ${id}`);
    return node;
  }

  /** Replaces a node's log with entries of the given terms and restarts it at `term`. */
  preload(id: NodeId, terms: number[], term: number): void {
    const storage = new MemoryStorage({ voters: this.ids, learners: [] });
    storage.append(
      terms.map((entryTerm, i) => ({
        index: i + 1,
        term: entryTerm,
        type: 'normal',
        stampMs: 0,
        data: new Uint8Array(),
      })),
    );
    storage.setHardState({ term, vote: 0, commit: 0 });
    this.nodes.set(id, this.makeNode(id, storage, false));
  }

  /** Restarts a node from what it persisted. */
  restart(id: NodeId): void {
    this.nodes.set(id, this.makeNode(id, this.node(id).storage, true));
  }

  isolate(id: NodeId): void {
    for (const other of this.ids) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}->${to}`);
    this.cut.add(`${to}->${from}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /**
   * Drives every node's Ready loop and delivers messages until the cluster is quiet. With
   * `linger` false, a leader's commit index that no append carried yet stays unsent.
   */
  settle(stepsMax = 10_000, linger = true): void {
    for (let step = 0; step < stepsMax; step++) {
      const messages = this.collectReadies();
      if (messages.length === 0 && !(linger && this.lingerRunsOut())) return;
      for (const message of messages) this.deliver(message);
    }
    throw new Error('the cluster did not settle');
  }

  /** A quiet network: the drivers' commit linger runs out (see Raft.broadcastCommit). */
  private lingerRunsOut(): boolean {
    const due = [...this.nodes.values()].filter((node) => node.raft.hasCommitToBroadcast());
    for (const node of due) node.raft.broadcastCommit();
    return due.length > 0;
  }

  private collectReadies(): Message[] {
    const out: Message[] = [];
    for (const node of this.nodes.values()) {
      while (node.raft.hasReady()) {
        const ready = node.raft.ready();
        node.storage.append(ready.entries);
        if (ready.hardState) node.storage.setHardState(ready.hardState);
        node.applied.push(...ready.committedEntries);
        for (const state of ready.readStates) this.recordRead(node, state);
        out.push(...ready.messagesNow, ...ready.messagesAfterPersist);
        node.raft.advance(ready);
      }
    }
    return out;
  }

  private recordRead(node: ScenarioNode, state: ReadState): void {
    node.readStates.set(state.readId, state.index);
  }

  private deliver(message: Message): void {
    const dropped = this.cut.has(`${message.from}->${message.to}`);
    this.trace.push(`${dropped ? 'DROP ' : ''}${describeMessage(message)}`);
    if (!dropped) this.node(message.to).raft.step(message);
  }

  /** Ticks only the given nodes (the others' clocks stand still, as in a long pause). */
  tick(ids: NodeId[], count: number): void {
    for (let i = 0; i < count; i++) {
      for (const id of ids) this.node(id).raft.tick();
      this.settle();
    }
  }

  tickAll(count: number): void {
    for (let i = 0; i < count; i++) {
      for (const node of this.nodes.values()) node.raft.tick();
      this.settle();
    }
  }

  propose(id: NodeId, text: string, linger = true): boolean {
    const result = this.node(id).raft.propose(
      [{ type: 'normal', data: new TextEncoder().encode(text) }],
      this.stampMs,
    );
    this.settle(undefined, linger);
    return result.ok;
  }

  leaders(): NodeId[] {
    return this.ids.filter((id) => this.node(id).raft.status().role === 'leader');
  }

  /** Runs one step line; throws with the trace when an expectation fails. */
  run(line: string): void {
    const [verb, ...args] = line.trim().split(/\s+/);
    const n = (i: number) => Number(args[i]);
    switch (verb) {
      case 'campaign':
        this.node(n(0)).raft.campaign();
        this.settle();
        return;
      case 'tick':
        this.tick(args[0]!.split(',').map(Number), n(1));
        return;
      case 'tick-all':
        this.tickAll(n(0));
        return;
      case 'propose':
        this.propose(n(0), args[1] ?? 'x');
        return;
      case 'propose-held':
        // The drivers' commit linger has not run out yet when the network goes quiet.
        this.propose(n(0), args[1] ?? 'x', false);
        return;
      case 'isolate':
        this.isolate(n(0));
        return;
      case 'cut':
        this.cutLink(n(0), n(1));
        return;
      case 'heal':
        this.heal();
        return;
      case 'restart':
        this.restart(n(0));
        this.settle();
        return;
      case 'transfer':
        this.node(n(0)).raft.transferLeader(n(1));
        this.settle();
        return;
      case 'read':
        this.node(n(0)).raft.readIndex(n(2), args[1] as 'readIndex' | 'lease');
        this.settle();
        return;
      case 'settle':
        this.settle();
        return;
      case 'expect':
        this.expect(args);
        return;
      default:
        throw new Error(`unknown scenario step: ${line}`);
    }
  }

  private expect(args: string[]): void {
    const [what, target, wanted] = args;
    if (what === 'leaders') {
      if (String(this.leaders().length) !== wanted)
        throw new Error(`expect leaders: ${this.leaders().length}`);
      return;
    }
    const ids = target === 'all' ? this.ids : [Number(target)];
    for (const id of ids) {
      const actual = this.observe(what!, id, args);
      if (String(actual) !== wanted) {
        throw new Error(
          `expect ${args.join(' ')}: node ${id} has ${what} ${actual}\n--- last messages ---\n${this.trace.slice(-40).join('\n')}`,
        );
      }
    }
  }

  private observe(what: string, id: NodeId, args: string[]): unknown {
    const node = this.node(id);
    const status = node.raft.status();
    switch (what) {
      case 'role':
        return status.role;
      case 'term':
        return status.term;
      case 'leader':
        return status.leaderId;
      case 'commit':
        return status.commitIndex;
      case 'last':
        return status.lastIndex;
      case 'log':
        return node.raft
          .logEntries(1, status.lastIndex + 1)
          .map((entry) => entry.term)
          .join(',');
      case 'read': {
        const readId = Number(args[3]);
        if (!node.readStates.has(readId)) return 'none';
        return node.readStates.get(readId) ?? 'refused';
      }
      default:
        throw new Error(`unknown expectation ${what}`);
    }
  }
}

export function runScenario(ids: NodeId[], lines: string[], config?: RaftConfig): ScenarioCluster {
  const cluster = new ScenarioCluster(ids, config);
  for (const line of lines) cluster.run(line);
  return cluster;
}
