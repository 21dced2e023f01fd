// The simulated world: N nodes, the network between them, clients, the nemesis, and one
// queue of events on virtual time. Everything random is drawn from one Prng seeded by the
// seed, so a seed is a complete description of a run. After every event the invariants run;
// a broken one throws SafetyViolation out of runUntil().
import { defaultRaftConfig, type RaftConfig, type TestFaults, tickMs } from '../../src/config.js';
import { describeMessage, type Entry, type Message, type NodeId } from '../../src/raft/messages.js';
import { HistoryRecorder } from '../history.js';
import { ClientPool, drawClientProfile } from './clients.js';
import { EventQueue, type Scheduler } from './event-queue.js';
import { drawFaultProfile, type FaultProfile, type FaultTarget, Nemesis } from './faults.js';
import { InvariantChecker, SafetyViolation } from './invariants.js';
import { type Link, SimNetwork } from './network.js';
import { NodeClock } from './node-clock.js';
import { Prng } from './prng.js';
import type { RegisterValue } from './register.js';
import { type ApplyResult, type NodeHost, SimNode } from './sim-node.js';
import type { TraceRing } from './trace.js';

export interface WorldOptions {
  seed: number;
  nodeCount: number;
  testFaults?: TestFaults;
  /** Replaces parts of the fault mix the seed draws (to aim a run at one kind of fault). */
  faultMix?: Partial<FaultProfile>;
  /** Null traces nothing (the fast path); a ring keeps the lines a report needs. */
  trace: TraceRing | null;
}

interface SimEvent {
  label: () => string;
  run: () => void;
  quiet: boolean;
}

const nanosecondsPerMs = 1_000_000;

/**
 * Events one seed may run: a normal seed needs a few tens of thousands, so a run past this is
 * a message storm or a livelock, reported rather than left to run for ever.
 */
const eventsPerSeedMax = 250_000;

export class World implements Scheduler, NodeHost, FaultTarget {
  readonly nodes: SimNode[];
  readonly history: HistoryRecorder;
  readonly network: SimNetwork;
  readonly clients: ClientPool;
  readonly nemesis: Nemesis;
  readonly invariants = new InvariantChecker();
  readonly opTimeoutMs: number;
  eventCount = 0;

  private readonly queue = new EventQueue<SimEvent>();
  private virtualMs = 0;
  private readonly trace: TraceRing | null;
  /** Remarks on the event running now, for its trace line. */
  private notes: (() => string)[] = [];
  /** Each node's role/term/leader as last traced, so a trace line shows what changed. */
  private readonly tracedSoftStates = new Map<NodeId, string>();

  constructor(options: WorldOptions) {
    const prng = new Prng(options.seed);
    this.trace = options.trace;
    const faultProfile: FaultProfile = { ...drawFaultProfile(prng.fork()), ...options.faultMix };
    const clientProfile = drawClientProfile(prng.fork());
    this.trace?.addHeader(`seed ${options.seed} draws ${JSON.stringify({ faultProfile, clientProfile })}`);
    this.opTimeoutMs = clientProfile.opTimeoutMs;
    this.network = new SimNetwork(faultProfile.network, prng.fork());
    this.history = new HistoryRecorder(() => Math.round(this.virtualMs * nanosecondsPerMs));
    const raftConfig: RaftConfig = {
      ...defaultRaftConfig,
      ...faultProfile.raftTuning,
      testFaults: options.testFaults ?? {},
    };
    const voters = Array.from({ length: options.nodeCount }, (_, i) => i + 1);
    this.nodes = voters.map((id) => {
      const nodePrng = prng.fork();
      const drift = faultProfile.clockDriftMax;
      const clock = new NodeClock(
        nodePrng.between(1 - drift, 1 + drift),
        nodePrng.between(0, tickMs),
        tickMs,
      );
      const { fsyncMsMin, fsyncMsMax } = faultProfile;
      return new SimNode({ id, voters, raftConfig, clock, prng: nodePrng, fsyncMsMin, fsyncMsMax }, this);
    });
    this.clients = new ClientPool(clientProfile, prng.fork(), this);
    this.nemesis = new Nemesis(faultProfile, prng.fork(), this);
  }

  // ---- the event loop ---------------------------------------------------------------------------

  nowMs(): number {
    return this.virtualMs;
  }

  schedule(delayMs: number, label: () => string, run: () => void, quiet = false): void {
    this.queue.push(this.virtualMs + Math.max(0, delayMs), { label, run, quiet });
  }

  note(text: () => string): void {
    if (this.trace !== null) this.notes.push(text);
  }

  /** Runs events in time order until `done()` or until the next event lies past `endMs`. */
  runUntil(endMs: number, done: () => boolean = () => false): void {
    while (!done()) {
      const nextMs = this.queue.peekTimeMs();
      if (nextMs === undefined || nextMs > endMs) {
        this.virtualMs = Math.max(this.virtualMs, endMs);
        return;
      }
      const { atMs, event } = this.queue.pop()!;
      this.virtualMs = atMs;
      if (++this.eventCount > eventsPerSeedMax) {
        throw new SafetyViolation(
          'Event Budget',
          `more than ${eventsPerSeedMax} events: a message storm or livelock`,
        );
      }
      this.notes = [];
      try {
        event.run();
        this.invariants.afterEvent(this.nodes);
      } finally {
        if (this.trace !== null) this.traceEvent(event, this.trace);
      }
    }
  }

  private traceEvent(event: SimEvent, trace: TraceRing): void {
    const remarks = [...this.notes.map((note) => note()), ...this.softStateChanges()];
    if (event.quiet && remarks.length === 0) return;
    const remarkText = remarks.length === 0 ? '' : ` | ${remarks.join('; ')}`;
    trace.add(`${this.virtualMs.toFixed(3)} ${event.label()}${remarkText}`);
  }

  private softStateChanges(): string[] {
    const changes: string[] = [];
    for (const node of this.nodes) {
      const status = node.raft?.status();
      const softState =
        status === undefined ? node.state : `${status.role} t${status.term} leader=${status.leaderId}`;
      if (this.tracedSoftStates.get(node.id) !== softState) changes.push(`n${node.id} ${softState}`);
      this.tracedSoftStates.set(node.id, softState);
    }
    return changes;
  }

  // ---- NodeHost -----------------------------------------------------------------------------------

  send(message: Message): void {
    this.invariants.sent(this.node(message.from), message);
    for (const atMs of this.network.deliveryTimesMs(message, this.virtualMs)) {
      this.schedule(
        atMs - this.virtualMs,
        () => `deliver ${describeMessage(message)}`,
        () => this.deliver(message),
      );
    }
  }

  private deliver(message: Message): void {
    const node = this.node(message.to);
    if (this.network.isBlocked(message.from, message.to)) {
      this.note(() => 'lost: link cut');
      return;
    }
    if (node.state === 'down') {
      this.note(() => 'lost: node down');
      return;
    }
    node.deliver(message);
  }

  persisted(node: SimNode, entries: readonly Entry[]): void {
    this.invariants.persisted(node, entries);
  }

  applied(node: SimNode, entry: Entry, result: ApplyResult): void {
    this.invariants.applied(node, entry);
    this.clients.applied(node, entry, result);
  }

  readFinished(_node: SimNode, readId: number, value: RegisterValue | undefined): void {
    this.clients.readFinished(readId, value);
  }

  leaderElected(node: SimNode): void {
    this.nemesis.leaderElected(node);
  }

  acknowledged(entry: Entry): void {
    this.invariants.acknowledged(entry);
  }

  // ---- FaultTarget --------------------------------------------------------------------------------

  /** The running leader of the highest term, if any node thinks it leads. */
  leader(): SimNode | undefined {
    let leader: SimNode | undefined;
    let leaderTerm = -1;
    for (const node of this.nodes) {
      const status = node.raft?.status();
      if (node.state === 'up' && status?.role === 'leader' && status.term > leaderTerm) {
        leader = node;
        leaderTerm = status.term;
      }
    }
    return leader;
  }

  /** Starts a node that is down (at the beginning, or after a crash) from its disk. */
  start(node: SimNode): void {
    this.invariants.nodeStarted(node);
    node.start();
  }

  crash(node: SimNode): void {
    node.crash();
    this.clients.nodeCrashed(node);
  }

  pause(node: SimNode): void {
    node.pause();
  }

  resume(node: SimNode): void {
    node.resume();
  }

  partition(links: readonly Link[]): void {
    this.network.partition(links);
  }

  heal(): void {
    this.network.heal();
  }

  recordFault(f: string, value: string): void {
    this.history.record({ process: 'nemesis', type: 'info', f, value });
    this.note(() => `nemesis ${f} ${value}`);
  }

  /** Ends every fault at once: links healed and reliable, every node running; clients stop. */
  healEverything(): void {
    this.nemesis.stop();
    this.clients.stop();
    this.network.heal();
    this.network.makeReliable();
    for (const node of this.nodes) {
      if (node.state === 'down') this.start(node);
      if (node.state === 'paused') this.resume(node);
    }
    this.recordFault('heal', 'everything');
  }

  private node(id: NodeId): SimNode {
    const node = this.nodes[id - 1];
    if (node === undefined) throw new Error(`message for unknown node ${id}`);
    return node;
  }
}
