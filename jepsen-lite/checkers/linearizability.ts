// Linearizability of a key-value register history (design.md §6 history format).
//
// Each key is an independent register (linearizability is compositional), checked with the
// Wing & Gong / Lowe search as Porcupine does it: walk the ops in real-time order, linearize a
// pending op the model accepts, backtrack when some op's return is reached before it was
// linearized, and memoize configurations (set of linearized ops, register value) so none is
// explored twice.
//
// Indeterminate ops (info, or never answered) are what make this search blow up: they stay
// pending to the end of the history and could be linearized anywhere. Three things tame them,
// each keeping the verdict exact: those whose value nobody observed are dropped, identical
// ones are linearized in invoke order, and a failed configuration also rules out those that
// differ only by having linearized more of them.
import { assert, unreachable } from '../../src/assert.js';
import type { HistoryOp } from '../history.js';

export type Verdict = true | false | 'unknown';

export interface KeyVerdict {
  key: string;
  valid: Verdict;
  /** Register operations on this key in the history (an invoke with its completion is one). */
  opCount: number;
  /**
   * For an invalid key: a few ops, invokes with their completions in history order, around the
   * op whose return the longest partial linearization could not reach.
   */
  counterexample?: HistoryOp[];
}

export interface LinearizabilityResult {
  valid: Verdict;
  keys: KeyVerdict[];
}

export interface LinearizabilityOptions {
  /** Budget for the whole check; keys not decided within it are 'unknown'. Default 10 000. */
  timeLimitMs?: number;
  /** Value of every register before the first op. Default null (absent). */
  initialValue?: unknown;
}

const defaultTimeLimitMs = 10_000;
/** How many search steps run between looks at the clock. */
const stepsPerDeadlineCheck = 1024;

export function checkRegisterLinearizability(
  history: readonly HistoryOp[],
  options: LinearizabilityOptions = {},
): LinearizabilityResult {
  const deadlineMs = performance.now() + (options.timeLimitMs ?? defaultTimeLimitMs);
  const opsByKey = groupByKey(pairInvocations(history));
  // Smallest keys first, so one hard key cannot starve the easy ones of their verdict.
  const keysBySize = [...opsByKey].sort(([, a], [, b]) => a.length - b.length);
  const keys = keysBySize
    .map(([key, invocations]) => checkKey(key, invocations, options.initialValue ?? null, deadlineMs))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { valid: combineVerdicts(keys.map((verdict) => verdict.valid)), keys };
}

function combineVerdicts(verdicts: Verdict[]): Verdict {
  if (verdicts.includes(false)) return false;
  return verdicts.includes('unknown') ? 'unknown' : true;
}

const registerFunctions: ReadonlySet<string> = new Set(['read', 'write', 'cas']);

/** An invoke with its completion, placed in the history's real-time order. */
interface Invocation {
  invoke: HistoryOp;
  /** Absent when the process never heard back. */
  completion: HistoryOp | undefined;
  /** Position of the invoke in real-time order. */
  callOrder: number;
  /** Position of the completion; Infinity when indeterminate (info or never completed). */
  returnOrder: number;
}

/**
 * Pairs each client invoke with the next completion of the same process. One history may
 * hold several workloads; this checker takes only the register functions.
 */
function pairInvocations(history: readonly HistoryOp[]): Invocation[] {
  const realTimeOrder = history
    .filter((op) => op.process !== 'nemesis' && registerFunctions.has(op.f))
    .sort(byRealTime);
  const invocations: Invocation[] = [];
  const outstanding = new Map<HistoryOp['process'], Invocation>();
  realTimeOrder.forEach((op, order) => {
    const pending = outstanding.get(op.process);
    if (op.type === 'invoke') {
      assert(pending === undefined, () => `history: process ${op.process} invoked op ${op.index} while busy`);
      const invocation = { invoke: op, completion: undefined, callOrder: order, returnOrder: Infinity };
      invocations.push(invocation);
      outstanding.set(op.process, invocation);
      return;
    }
    assert(pending?.invoke.f === op.f, () => `history: op ${op.index} completes no ${op.f} of its process`);
    pending.completion = op;
    if (op.type !== 'info') pending.returnOrder = order;
    outstanding.delete(op.process);
  });
  return invocations;
}

/** The recorder's index breaks ties of a coarse clock. */
function byRealTime(a: HistoryOp, b: HistoryOp): number {
  return a.time - b.time || a.index - b.index;
}

function groupByKey(invocations: Invocation[]): Map<string, Invocation[]> {
  const byKey = new Map<string, Invocation[]>();
  for (const invocation of invocations) {
    // A history of a single unnamed register is allowed: it is the register ''.
    const key = invocation.invoke.key ?? '';
    const forKey = byKey.get(key) ?? [];
    forKey.push(invocation);
    byKey.set(key, forKey);
  }
  return byKey;
}

function checkKey(
  key: string,
  invocations: Invocation[],
  initialValue: unknown,
  deadlineMs: number,
): KeyVerdict {
  const valueIds = new ValueIds();
  const ops = withoutUnobservedIndeterminate(invocations.flatMap((call) => toRegisterOps(call, valueIds)));
  const outcome = new LinearizationSearch(ops, valueIds.idOf(initialValue)).run(deadlineMs);
  const opCount = invocations.length;
  switch (outcome.kind) {
    case 'linearizable':
      return { key, valid: true, opCount };
    case 'timeout':
      return { key, valid: 'unknown', opCount };
    case 'not-linearizable':
      return { key, valid: false, opCount, counterexample: outcome.counterexample };
    default:
      return unreachable(outcome, 'search outcome');
  }
}

/** Numbers values by their canonical JSON, so deep-equal values get the same id. */
class ValueIds {
  private readonly ids = new Map<string, number>();

  idOf(value: unknown): number {
    const json = canonicalJson(value);
    const id = this.ids.get(json) ?? this.ids.size;
    this.ids.set(json, id);
    return id;
  }
}

/** A register op the search must place (or, if indeterminate, may place); values are ids. */
interface RegisterOp {
  f: 'read' | 'write' | 'cas';
  /** The value read, the value written, or the new value of a cas. */
  value: number;
  /** The expected value of a cas. */
  expected: number;
  /** The op may or may not have taken effect; it may do so at any time after its invoke. */
  indeterminate: boolean;
  invocation: Invocation;
}

/** The ops to place, or none for ops that constrain nothing: failed ops and unanswered reads. */
function toRegisterOps(invocation: Invocation, valueIds: ValueIds): RegisterOp[] {
  const { invoke, completion } = invocation;
  if (completion?.type === 'fail') return [];
  const indeterminate = completion?.type !== 'ok';
  const op = { value: -1, expected: -1, indeterminate, invocation };
  switch (invoke.f) {
    case 'read':
      // A read of an absent key is null; a missing value (dropped by JSON) means the same.
      return indeterminate ? [] : [{ ...op, f: 'read', value: valueIds.idOf(completion?.value ?? null) }];
    case 'write':
      return [{ ...op, f: 'write', value: valueIds.idOf(invoke.value ?? null) }];
    case 'cas': {
      const operands = invoke.value;
      assert(
        Array.isArray(operands) && operands.length === 2,
        () => `history: cas op ${invoke.index} needs value [expected, new]`,
      );
      return [{ ...op, f: 'cas', expected: valueIds.idOf(operands[0]), value: valueIds.idOf(operands[1]) }];
    }
    default:
      throw new Error(`history: op ${invoke.index} is no register op: ${invoke.f}`);
  }
}

/**
 * Drops indeterminate writes and cas whose new value nobody observed (no ok read returned it,
 * no cas expected it). Such an op can always be linearized last, where it changes nothing
 * anyone sees, so dropping it keeps the verdict.
 */
function withoutUnobservedIndeterminate(ops: RegisterOp[]): RegisterOp[] {
  const observed = new Set<number>();
  for (const op of ops) {
    if (op.f === 'read') observed.add(op.value);
    if (op.f === 'cas') observed.add(op.expected);
  }
  return ops.filter((op) => !op.indeterminate || observed.has(op.value));
}

/**
 * The register value after `op`, or undefined if `op` cannot happen on `value`. An
 * indeterminate cas that finds another value would fail and change nothing, the same as not
 * happening at all, so the search need not place it there.
 */
function applyOp(value: number, op: RegisterOp): number | undefined {
  switch (op.f) {
    case 'read':
      return op.value === value ? value : undefined;
    case 'write':
      return op.value;
    case 'cas':
      return op.expected === value ? op.value : undefined;
    default:
      return unreachable(op.f, 'register function');
  }
}

/** A list of events in real-time order, behind a sentinel head. */
interface EventList {
  next: Event | null;
}

interface Event extends EventList {
  kind: 'call' | 'return';
  op: RegisterOp;
  /** The op's bit in its linearized set: definite and indeterminate ops are numbered apart. */
  id: number;
  /** A call's return; indeterminate ops have none, they may take effect until the end. */
  returnEvent: Event | undefined;
  prev: EventList;
  /** The id of the last call before this one with the same f and values, or -1. */
  twinBefore: number;
}

/** Links the calls and returns of definite ops, or the calls of indeterminate ones. */
function linkEvents(ops: RegisterOp[]): EventList {
  const head: EventList = { next: null };
  const lastIdOfClass = new Map<string, number>();
  const events: Array<{ event: Event; order: number }> = [];
  ops.forEach((op, id) => {
    const opClass = `${op.f}:${op.expected}:${op.value}`;
    const shared = { op, id, prev: head, next: null, twinBefore: lastIdOfClass.get(opClass) ?? -1 };
    lastIdOfClass.set(opClass, id);
    const returnEvent: Event | undefined = op.indeterminate
      ? undefined
      : { ...shared, kind: 'return', returnEvent: undefined };
    events.push({ event: { ...shared, kind: 'call', returnEvent }, order: op.invocation.callOrder });
    if (returnEvent) events.push({ event: returnEvent, order: op.invocation.returnOrder });
  });
  events.sort((a, b) => a.order - b.order);
  let last = head;
  for (const { event } of events) {
    last.next = event;
    event.prev = last;
    last = event;
  }
  return head;
}

/** Takes a placed call and its return out of their list; they keep their links for relink. */
function unlink(call: Event): void {
  for (const event of call.returnEvent ? [call, call.returnEvent] : [call]) {
    event.prev.next = event.next;
    if (event.next) event.next.prev = event.prev;
  }
}

/** Undoes unlink(call); unlinks must be undone in reverse order. */
function relink(call: Event): void {
  for (const event of call.returnEvent ? [call.returnEvent, call] : [call]) {
    event.prev.next = event;
    if (event.next) event.next.prev = event;
  }
}

type SearchOutcome =
  | { kind: 'linearizable' }
  | { kind: 'timeout' }
  | { kind: 'not-linearizable'; counterexample: HistoryOp[] };

/**
 * Depth-first search for a linearization. From each configuration it tries the calls not yet
 * placed that come before the first unplaced return, definite ones first; when none fits,
 * that return cannot be reached and it backtracks. Indeterminate ops never have to be placed,
 * and go last so that configurations with fewer of them are exhausted first and rule out the
 * rest (see FailedConfigurations).
 */
class LinearizationSearch {
  private readonly definite: EventList;
  private readonly indeterminate: EventList;
  private readonly linearized: Linearized;
  private readonly failed = new FailedConfigurations();
  /** The linearization so far, with the register value before each op. */
  private readonly placed: Array<{ call: Event; valueBefore: number }> = [];
  private value: number;
  private deepestFailure = { depth: -1, counterexample: [] as HistoryOp[] };

  constructor(ops: RegisterOp[], initialValue: number) {
    const definiteOps = ops.filter((op) => !op.indeterminate);
    const indeterminateOps = ops.filter((op) => op.indeterminate);
    this.definite = linkEvents(definiteOps);
    this.indeterminate = linkEvents(indeterminateOps);
    this.linearized = {
      definite: new OpSet(definiteOps.length),
      indeterminate: new OpSet(indeterminateOps.length),
    };
    this.value = initialValue;
  }

  run(deadlineMs: number): SearchOutcome {
    /** The next call to try from the current configuration; null once all were tried. */
    let candidate: Event | null = this.definite.next;
    /**
     * Indeterminate calls must come before the first unplaced return; this is its order, set
     * when the walk reaches it. Placing or undoing an indeterminate op leaves it as it is, and
     * after undoing a definite op the walk reaches a return again before using it.
     */
    let returnBound = 0;
    for (let steps = 1; this.definite.next !== null; steps++) {
      if (steps % stepsPerDeadlineCheck === 0 && performance.now() > deadlineMs) return { kind: 'timeout' };
      if (candidate?.kind === 'return') {
        returnBound = candidate.op.invocation.returnOrder;
        candidate = this.indeterminate.next;
      } else if (
        candidate === null ||
        (candidate.op.indeterminate && candidate.op.invocation.callOrder > returnBound)
      ) {
        const undone = this.backtrack();
        if (undone === undefined) {
          return { kind: 'not-linearizable', counterexample: this.deepestFailure.counterexample };
        }
        candidate = undone.next;
      } else {
        candidate = this.tryToPlace(candidate) ? this.definite.next : candidate.next;
      }
    }
    return { kind: 'linearizable' };
  }

  /** The first return not yet reached; there is one while definite ops remain. */
  private firstReturn(): Event {
    let event = this.definite.next;
    while (event?.kind === 'call') event = event.next;
    assert(event, 'a definite call without its return');
    return event;
  }

  private tryToPlace(call: Event): boolean {
    const { op, id } = call;
    const set = op.indeterminate ? this.linearized.indeterminate : this.linearized.definite;
    // Twins (same f and values) are interchangeable: placing them earliest-invoked first loses
    // no linearization and spares trying every subset of them.
    if (op.indeterminate && call.twinBefore >= 0 && !set.has(call.twinBefore)) return false;
    const valueAfter = applyOp(this.value, op);
    if (valueAfter === undefined) return false;
    set.toggle(id);
    if (this.failed.covers(this.linearized, valueAfter)) {
      set.toggle(id);
      return false;
    }
    this.placed.push({ call, valueBefore: this.value });
    this.value = valueAfter;
    unlink(call);
    return true;
  }

  /** Gives up the current configuration and the op that led to it; undefined at the root. */
  private backtrack(): Event | undefined {
    if (this.placed.length > this.deepestFailure.depth) {
      const counterexample = failureWitness(this.definite, this.firstReturn(), this.placed);
      this.deepestFailure = { depth: this.placed.length, counterexample };
    }
    const undone = this.placed.pop();
    if (undone === undefined) return undefined;
    this.failed.record(this.linearized, this.value);
    const { op, id } = undone.call;
    (op.indeterminate ? this.linearized.indeterminate : this.linearized.definite).toggle(id);
    this.value = undone.valueBefore;
    relink(undone.call);
    return undone.call;
  }
}

/**
 * A short explanation of why `stuck` (a return) could not be reached: the definite ops
 * concurrent with it that were not placed, and the tail of the linearization back to the last
 * write or cas that finished before it started (which fixed the value it should see),
 * leaving out reads that finished before it.
 */
function failureWitness(definite: EventList, stuck: Event, placed: Array<{ call: Event }>): HistoryOp[] {
  const stuckCall = stuck.op.invocation.callOrder;
  const witnesses: RegisterOp[] = [];
  for (let event = definite.next; event !== stuck && event !== null; event = event.next) {
    if (event.kind === 'call') witnesses.push(event.op);
  }
  for (let i = placed.length - 1; i >= 0; i--) {
    const op = placed[i]!.call.op;
    const finishedBefore = op.invocation.returnOrder < stuckCall;
    if (!finishedBefore || op.f !== 'read') witnesses.push(op);
    if (finishedBefore && op.f !== 'read') break;
  }
  return witnesses
    .flatMap(({ invocation: { invoke, completion } }) => (completion ? [invoke, completion] : [invoke]))
    .sort(byRealTime);
}

/** A set of op ids with an incrementally kept 64-bit hash. */
class OpSet {
  readonly words: Uint32Array;
  hashLow = 0;
  hashHigh = 0;

  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
  }

  has(id: number): boolean {
    return (this.words[id >>> 5]! & (1 << (id & 31))) !== 0;
  }

  toggle(id: number): void {
    this.words[id >>> 5]! ^= 1 << (id & 31);
    this.hashLow ^= mix32(id);
    this.hashHigh ^= mix32(id ^ 0x5bd1e995);
  }

  equals(words: Uint32Array): boolean {
    for (let i = 0; i < words.length; i++) if (this.words[i] !== words[i]) return false;
    return true;
  }

  includesAll(words: Uint32Array): boolean {
    for (let i = 0; i < words.length; i++) if ((words[i]! & ~this.words[i]!) !== 0) return false;
    return true;
  }
}

interface Linearized {
  definite: OpSet;
  indeterminate: OpSet;
}

/** Exhausted configurations that share their definite ops and value. */
interface FailedGroup {
  definite: Uint32Array;
  value: number;
  /** The indeterminate ops placed in each. */
  indeterminateSets: Uint32Array[];
}

/**
 * Configurations from which no linearization exists. One also rules out each configuration
 * with the same definite ops placed, the same value and more indeterminate ops placed: those
 * need never be placed, so whatever finishes the bigger configuration finishes the smaller.
 * Only exhausted configurations are recorded, never ones still being explored.
 */
class FailedConfigurations {
  private readonly groupsByHash = new Map<number, FailedGroup[]>();

  record(linearized: Linearized, value: number): void {
    const indeterminate = linearized.indeterminate.words.slice();
    const group = this.group(linearized, value);
    if (group) {
      group.indeterminateSets.push(indeterminate);
      return;
    }
    const hash = FailedConfigurations.hash(linearized, value);
    const groups = this.groupsByHash.get(hash) ?? [];
    groups.push({ definite: linearized.definite.words.slice(), value, indeterminateSets: [indeterminate] });
    this.groupsByHash.set(hash, groups);
  }

  covers(linearized: Linearized, value: number): boolean {
    const group = this.group(linearized, value);
    return group?.indeterminateSets.some((failed) => linearized.indeterminate.includesAll(failed)) ?? false;
  }

  private group(linearized: Linearized, value: number): FailedGroup | undefined {
    const groups = this.groupsByHash.get(FailedConfigurations.hash(linearized, value));
    return groups?.find((group) => group.value === value && linearized.definite.equals(group.definite));
  }

  /** 53 bits of the definite set's hash mixed with the value. */
  private static hash({ definite }: Linearized, value: number): number {
    return ((definite.hashLow ^ mix32(value)) >>> 0) + (definite.hashHigh >>> 11) * 2 ** 32;
  }
}

/** A 32-bit integer hash (lowbias32) to spread ids over the hash bits. */
function mix32(input: number): number {
  let x = input;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** JSON with object keys sorted, so deep-equal values have equal strings. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(withSortedKeys(value)) ?? 'null';
}

function withSortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withSortedKeys);
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([key, field]) => [key, withSortedKeys(field)]));
}
