// The set checker: clients add unique elements, and reads taken after the adds (the final
// reads, one per node) must hold every element whose add was acknowledged before the read
// began (no lost element), nothing that no client tried to add before the read ended (no
// phantom), and nothing whose add was refused (a refusal promises the change was not applied,
// design.md §6). Adds that ended `info` may be present or not.
//
// History: `f: "add"` with `value` the element; `f: "read"` completing `ok` with `value` the list
// of elements present. Elements are compared by their JSON.
import type { HistoryOp } from '../history.js';
import type { CheckerResult, Counterexample, Verdict } from './verdict.js';

/** Elements listed per kind of anomaly in the details and the summary. */
export const setAnomalyListMax = 20;
/** Lost adds shown, with their invoke and completion, in the counterexample. */
const counterexampleAddsMax = 5;

interface AddAttempt {
  invoke: HistoryOp;
  completion: HistoryOp | undefined;
}

export interface SetReadVerdict {
  /** The node the read was sent to. */
  node: number | undefined;
  readIndex: number;
  present: number;
  lost: unknown[];
  lostCount: number;
  phantom: unknown[];
  phantomCount: number;
  /** Present although their add failed. */
  failedButPresent: unknown[];
  failedButPresentCount: number;
  /** Present although their add ended indeterminate (`info`): it took effect after all. */
  indeterminatePresentCount: number;
}

export interface SetDetails {
  attempted: number;
  acknowledged: number;
  failed: number;
  indeterminate: number;
  reads: SetReadVerdict[];
  /** Final reads that failed (e.g. a node that stayed down); they constrain nothing. */
  failedReads: number;
}

export function checkSet(history: readonly HistoryOp[]): CheckerResult {
  const adds = pairAdds(history);
  const readVerdicts = completedReads(history).map((read) => checkRead(read, adds));
  const details: SetDetails = {
    attempted: adds.size,
    acknowledged: countAdds(adds, 'ok'),
    failed: countAdds(adds, 'fail'),
    indeterminate: adds.size - countAdds(adds, 'ok') - countAdds(adds, 'fail'),
    reads: readVerdicts,
    failedReads: history.filter((op) => op.process !== 'nemesis' && op.f === 'read' && op.type === 'fail')
      .length,
  };
  const broken = readVerdicts.find(
    (read) => read.lostCount + read.phantomCount + read.failedButPresentCount > 0,
  );
  const valid: Verdict = broken ? false : readVerdicts.length > 0 ? true : 'unknown';
  const result: CheckerResult = { checker: 'set', valid, summary: summarize(details, broken), details };
  if (broken) result.counterexample = counterexampleOf(broken, adds, history);
  return result;
}

/** Each add by its element's JSON; elements are unique per run, so one attempt each. */
function pairAdds(history: readonly HistoryOp[]): Map<string, AddAttempt> {
  const adds = new Map<string, AddAttempt>();
  const outstanding = new Map<HistoryOp['process'], AddAttempt>();
  for (const op of history) {
    if (op.process === 'nemesis' || op.f !== 'add') continue;
    if (op.type === 'invoke') {
      const attempt = { invoke: op, completion: undefined };
      adds.set(JSON.stringify(op.value), attempt);
      outstanding.set(op.process, attempt);
    } else {
      const attempt = outstanding.get(op.process);
      if (attempt) attempt.completion = op;
      outstanding.delete(op.process);
    }
  }
  return adds;
}

interface CompletedRead {
  invoke: HistoryOp;
  completion: HistoryOp;
}

function completedReads(history: readonly HistoryOp[]): CompletedRead[] {
  const invokes = new Map<HistoryOp['process'], HistoryOp>();
  const reads: CompletedRead[] = [];
  for (const op of history) {
    if (op.process === 'nemesis' || op.f !== 'read') continue;
    if (op.type === 'invoke') invokes.set(op.process, op);
    else if (op.type === 'ok' && invokes.has(op.process))
      reads.push({ invoke: invokes.get(op.process)!, completion: op });
  }
  return reads;
}

function countAdds(adds: Map<string, AddAttempt>, type: 'ok' | 'fail'): number {
  let count = 0;
  for (const add of adds.values()) if (add.completion?.type === type) count += 1;
  return count;
}

function checkRead(read: CompletedRead, adds: Map<string, AddAttempt>): SetReadVerdict {
  const elements = Array.isArray(read.completion.value) ? read.completion.value : [];
  const present = new Set(elements.map((element) => JSON.stringify(element)));
  const lost: string[] = [];
  const phantom: string[] = [];
  const failedButPresent: string[] = [];
  let indeterminatePresentCount = 0;
  for (const [element, add] of adds) {
    const ackedBeforeRead = add.completion?.type === 'ok' && add.completion.time < read.invoke.time;
    if (ackedBeforeRead && !present.has(element)) lost.push(element);
  }
  for (const element of present) {
    const add = adds.get(element);
    if (add === undefined || add.invoke.time > read.completion.time) phantom.push(element);
    else if (add.completion?.type === 'fail') failedButPresent.push(element);
    else if (add.completion?.type !== 'ok') indeterminatePresentCount += 1;
  }
  const listed = (elements: string[]) => elements.slice(0, setAnomalyListMax).map((json) => JSON.parse(json));
  return {
    node: read.invoke.node,
    readIndex: read.completion.index,
    present: present.size,
    lost: listed(lost),
    lostCount: lost.length,
    phantom: listed(phantom),
    phantomCount: phantom.length,
    failedButPresent: listed(failedButPresent),
    failedButPresentCount: failedButPresent.length,
    indeterminatePresentCount,
  };
}

function summarize(details: SetDetails, broken: SetReadVerdict | undefined): string {
  const adds = `${details.attempted} adds (${details.acknowledged} ok, ${details.failed} failed, ${details.indeterminate} indeterminate)`;
  if (details.reads.length === 0) return `${adds}; no final read succeeded, nothing to check`;
  if (!broken)
    return `${adds}; ${details.reads.length} final reads hold every acknowledged element and nothing else`;
  const problems = [
    broken.lostCount > 0
      ? `${broken.lostCount} acknowledged elements lost (${broken.lost.slice(0, 5).join(', ')}...)`
      : '',
    broken.phantomCount > 0 ? `${broken.phantomCount} phantom elements` : '',
    broken.failedButPresentCount > 0
      ? `${broken.failedButPresentCount} elements present whose add failed`
      : '',
  ].filter((problem) => problem !== '');
  return `${adds}; final read on node ${broken.node}: ${problems.join(', ')}`;
}

function counterexampleOf(
  broken: SetReadVerdict,
  adds: Map<string, AddAttempt>,
  history: readonly HistoryOp[],
): Counterexample {
  const shown = [...broken.lost, ...broken.failedButPresent].slice(0, counterexampleAddsMax);
  const addOps = shown.flatMap((element) => {
    const add = adds.get(JSON.stringify(element))!;
    return add.completion ? [add.invoke, add.completion] : [add.invoke];
  });
  const read = history.find((op) => op.index === broken.readIndex)!;
  // The full list of elements read can hold thousands: the counterexample keeps the count.
  const readOp = { ...read, value: `${broken.present} elements` };
  const firstLost = broken.lost[0];
  const description =
    firstLost !== undefined
      ? `element ${JSON.stringify(firstLost)} was acknowledged, then missing from the final read on node ${broken.node}`
      : broken.phantomCount > 0
        ? `the final read on node ${broken.node} holds ${JSON.stringify(broken.phantom[0])}, which no client added`
        : `element ${JSON.stringify(broken.failedButPresent[0])} is present although its add failed`;
  return { description, ops: [...addOps, readOp].sort((a, b) => a.index - b.index) };
}
