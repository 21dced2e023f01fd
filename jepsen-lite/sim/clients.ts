// Client processes: each picks an operation (write a unique value, cas, or a read in
// readIndex or lease mode), sends it to a random node, and records invoke and completion in
// the history (design.md §6). A write is `ok` once the node it went to applies its entry,
// `fail` when the node was not leader, and `info` when the node crashed or it timed out; a
// process whose op ended `info` is replaced by a fresh one, as in Jepsen.
import type { Entry, NodeId } from '../../src/raft/messages.js';
import type { HistoryRecorder, PendingOp } from '../history.js';
import type { Scheduler } from './event-queue.js';
import type { Prng } from './prng.js';
import type { RegisterCommand, RegisterValue } from './register.js';
import type { ApplyResult, ReadMode, SimNode } from './sim-node.js';

export interface ClientProfile {
  clientCount: number;
  keys: readonly string[];
  /** Relative weights of the three operations. */
  writeWeight: number;
  casWeight: number;
  readWeight: number;
  /** Of reads, the share sent in lease mode (the rest use ReadIndex). */
  leaseReadShare: number;
  /** A client waits up to this long between one op's completion and its next invoke. */
  thinkMsMax: number;
  /** How often a client sends to the node it last heard is leader, rather than to any node. */
  leaderHintShare: number;
  opTimeoutMs: number;
}

export function drawClientProfile(prng: Prng): ClientProfile {
  const keyCount = prng.int(1, 4);
  return {
    clientCount: prng.int(3, 8),
    keys: Array.from({ length: keyCount }, (_, i) => `k${i}`),
    writeWeight: prng.between(1, 4),
    casWeight: prng.between(0, 2),
    readWeight: prng.between(1, 4),
    leaseReadShare: prng.pick([0, 0.5, 1]),
    thinkMsMax: prng.pick([5, 20, 50, 200]),
    leaderHintShare: prng.between(0, 0.9),
    opTimeoutMs: prng.pick([500, 1000, 2000]),
  };
}

export interface ClientHost extends Scheduler {
  readonly nodes: readonly SimNode[];
  readonly history: HistoryRecorder;
  /** A client saw an op decided by this entry (a write or cas answered from its apply). */
  acknowledged(entry: Entry): void;
}

/** Even a client whose ops fail at once must let virtual time move on. */
const thinkMsMin = 1;
/**
 * A client backs off this long (at least) after a refusal (not leader, node down, read
 * refused), as a real client would before retrying; without it, clients hammering a down node
 * fill the history with instant failures.
 */
const refusalBackoffMsMin = 20;

type Outcome = 'ok' | 'fail' | 'info';

export interface ClientOp {
  readonly process: number;
  readonly f: 'write' | 'cas' | 'read';
  readonly key: string;
  readonly node: SimNode;
  readonly record: PendingOp;
  outcome: Outcome | null;
  /** For a write refused with notLeader: the leader the node named (0 = none known); else null. */
  leaderHint: NodeId | null;
  readonly onDone: () => void;
}

export class ClientPool {
  private readonly writesByOpId = new Map<number, ClientOp>();
  private readonly readsById = new Map<number, ClientOp>();
  private nextOpId = 1;
  private nextReadId = 1;
  /** Every written value is unique, so the linearizability checker can tell writes apart. */
  private nextValue = 1;
  private nextProcess: number;
  private running = false;
  private outstanding = 0;
  /** The newest value each key is known to hold, for the `expected` of a cas. */
  private readonly lastKnownValues = new Map<string, RegisterValue>();
  /**
   * Per client: the leader a node named when it refused a write (as a 421 NOT_LEADER names
   * it). Each client keeps its own, so after a failover some still talk to the deposed leader.
   */
  private readonly leaderHints = new Map<number, NodeId>();

  constructor(
    readonly profile: ClientProfile,
    private readonly prng: Prng,
    private readonly host: ClientHost,
  ) {
    this.nextProcess = profile.clientCount;
  }

  get idle(): boolean {
    return this.outstanding === 0;
  }

  start(): void {
    this.running = true;
    for (let client = 0; client < this.profile.clientCount; client++)
      this.thinkThenInvoke(client, client, thinkMsMin);
  }

  /** No new ops from now on; those in flight still complete or time out. */
  stop(): void {
    this.running = false;
  }

  /** A fresh process id, for a process that replaces one whose op ended `info`. */
  newProcess(): number {
    return this.nextProcess++;
  }

  /** Writes a fresh value to `key` through `node`; `onDone` runs when the op completes. */
  write(process: number, node: SimNode, key: string, onDone: (op: ClientOp) => void): ClientOp {
    const value = this.nextValue++;
    return this.propose(process, node, { op: 'write', key, value, opId: this.nextOpId++ }, onDone);
  }

  // ---- what nodes report -----------------------------------------------------------------------

  applied(node: SimNode, entry: Entry, result: ApplyResult): void {
    if (result === null) return;
    const op = this.writesByOpId.get(result.command.opId);
    if (op === undefined || op.node !== node) return;
    this.host.acknowledged(entry);
    if (!result.changed) {
      this.finish(op, 'fail', 'cas found another value');
      return;
    }
    this.lastKnownValues.set(op.key, newValue(result.command));
    this.finish(op, 'ok');
  }

  readFinished(readId: number, value: RegisterValue | undefined): void {
    const op = this.readsById.get(readId);
    if (op === undefined) return;
    if (value === undefined) {
      this.finish(op, 'fail', 'read refused');
      return;
    }
    this.lastKnownValues.set(op.key, value);
    this.finish(op, 'ok', value);
  }

  /** The node lost its volatile state: its writes may or may not commit; its reads are gone. */
  nodeCrashed(node: SimNode): void {
    for (const op of [...this.writesByOpId.values(), ...this.readsById.values()]) {
      if (op.node === node) this.finish(op, op.f === 'read' ? 'fail' : 'info', 'node crashed');
    }
  }

  // ---- client processes ------------------------------------------------------------------------

  /** `client` is the slot (0..clientCount-1); `process` its current process id in the history. */
  private thinkThenInvoke(client: number, process: number, thinkMsAtLeast: number): void {
    const thinkMs = Math.max(thinkMsAtLeast, this.prng.between(thinkMsMin, this.profile.thinkMsMax));
    this.host.schedule(
      thinkMs,
      () => `client p${process} next op`,
      () => this.invokeRandomOp(client, process),
      true,
    );
  }

  private invokeRandomOp(client: number, process: number): void {
    if (!this.running) return;
    const node = this.pickNode(client);
    const key = this.prng.pick(this.profile.keys);
    const next = (op: ClientOp): void => {
      // A node that named a leader is believed; one that timed out or refused is doubted.
      if (op.leaderHint !== null) this.leaderHints.set(client, op.leaderHint);
      else if (op.outcome !== 'ok') this.leaderHints.delete(client);
      const thinkMsAtLeast = op.outcome === 'fail' ? refusalBackoffMsMin : thinkMsMin;
      this.thinkThenInvoke(client, op.outcome === 'info' ? this.newProcess() : process, thinkMsAtLeast);
    };
    const { writeWeight, casWeight, readWeight } = this.profile;
    const draw = this.prng.between(0, writeWeight + casWeight + readWeight);
    if (draw < writeWeight) {
      this.write(process, node, key, next);
    } else if (draw < writeWeight + casWeight) {
      const expected = this.prng.chance(0.8) ? (this.lastKnownValues.get(key) ?? null) : null;
      const command: RegisterCommand = {
        op: 'cas',
        key,
        value: [expected, this.nextValue++],
        opId: this.nextOpId++,
      };
      this.propose(process, node, command, next);
    } else {
      const mode: ReadMode = this.prng.chance(this.profile.leaseReadShare) ? 'lease' : 'readIndex';
      this.read(process, node, key, mode, next);
    }
  }

  private pickNode(client: number): SimNode {
    const hinted = this.host.nodes.find((node) => node.id === this.leaderHints.get(client));
    if (hinted !== undefined && this.prng.chance(this.profile.leaderHintShare)) return hinted;
    return this.prng.pick(this.host.nodes);
  }

  private propose(
    process: number,
    node: SimNode,
    command: RegisterCommand,
    onDone: (op: ClientOp) => void,
  ): ClientOp {
    const op = this.invoke(process, command.op, command.key, command.value, node, onDone);
    this.writesByOpId.set(command.opId, op);
    const reached = node.submit(() => {
      // A request that waited out a pause is still proposed (its op already ended `info`).
      const result = node.propose(command);
      if (result.ok) return;
      if (result.reason === 'notLeader') op.leaderHint = node.raft!.status().leaderId;
      if (op.outcome === null) this.finish(op, 'fail', result.reason);
    });
    if (!reached) this.finish(op, 'fail', 'node down');
    return op;
  }

  private read(
    process: number,
    node: SimNode,
    key: string,
    mode: ReadMode,
    onDone: (op: ClientOp) => void,
  ): void {
    const op = this.invoke(process, 'read', key, undefined, node, onDone);
    const readId = this.nextReadId++;
    this.readsById.set(readId, op);
    if (!node.submit(() => node.read(readId, key, mode))) this.finish(op, 'fail', 'node down');
  }

  private invoke(
    process: number,
    f: ClientOp['f'],
    key: string,
    value: unknown,
    node: SimNode,
    onDone: (op: ClientOp) => void,
  ): ClientOp {
    const record = this.host.history.invoke(process, f, key, value, node.id);
    this.host.note(() => `p${process} ${f} ${key} ${JSON.stringify(value ?? null)} -> n${node.id}`);
    const op: ClientOp = {
      process,
      f,
      key,
      node,
      record,
      outcome: null,
      leaderHint: null,
      onDone: () => onDone(op),
    };
    this.outstanding++;
    this.host.schedule(
      this.profile.opTimeoutMs,
      () => `client ${process} ${f} timeout`,
      () => this.finish(op, f === 'read' ? 'fail' : 'info', 'timeout'),
      true,
    );
    return op;
  }

  private finish(op: ClientOp, outcome: Outcome, detail?: unknown): void {
    if (op.outcome !== null) return;
    op.outcome = outcome;
    this.outstanding--;
    this.host.note(() => `p${op.process} ${op.f} ${op.key} ${outcome} ${JSON.stringify(detail ?? null)}`);
    for (const ops of [this.writesByOpId, this.readsById]) {
      for (const [id, candidate] of ops) if (candidate === op) ops.delete(id);
    }
    if (outcome === 'ok') op.record.ok(detail);
    else if (outcome === 'fail') op.record.fail(String(detail));
    else op.record.info(String(detail));
    op.onDone();
  }
}

function newValue(command: RegisterCommand): number {
  return command.op === 'write' ? command.value : command.value[1];
}
