// The register workload: a few keys, each a register; clients read it (at the chosen
// consistency), write unique values to it, and compare-and-set it. Values are unique so the
// linearizability search knows which write every read saw (and runs much faster).
//
// CAS on a value is built from the API's CAS on a revision: a key's modRevision is the log index
// of the write that set its current value, and every value is written once and never deleted,
// so "modRevision is R" holds exactly when "the value is the one written at R".
import { checkRegisterLinearizability } from '../checkers/linearizability.js';
import { checkStaleReads } from '../checkers/stale-read.js';
import type { CheckerResult } from '../checkers/verdict.js';
import type { HistoryOp, OpType } from '../history.js';
import { failureOf } from '../real/kv-client.js';
import {
  completeRead,
  completeWrite,
  type ReadConsistency,
  type Workload,
  type WorkloadContext,
} from './workload.js';

export const registerKeysCountDefault = 3;
/** Share of reads and writes among the ops; the rest are compare-and-sets. */
const readShare = 0.5;
const writeShare = 0.3;
const keyPrefix = 'register/';

interface KnownValue {
  value: unknown;
  revision: number;
}

export interface RegisterOptions {
  consistency: ReadConsistency;
  keysCount?: number;
}

export function registerWorkload(context: WorkloadContext, options: RegisterOptions): Workload {
  const { cluster, client, recorder, random } = context;
  const keys = Array.from(
    { length: options.keysCount ?? registerKeysCountDefault },
    (_, i) => `${keyPrefix}${i}`,
  );
  let nextValue = 1;
  /** The newest value seen on each key with the revision that wrote it: what a CAS expects. */
  const known = new Map<string, KnownValue>();
  const learn = (key: string, value: unknown, revision: unknown) => {
    if (typeof revision !== 'number') return;
    if (revision > (known.get(key)?.revision ?? 0)) known.set(key, { value, revision });
  };

  async function read(
    process: number,
    node: number,
    key: string,
    consistency: ReadConsistency,
  ): Promise<OpType> {
    const pending = recorder.invoke(process, 'read', key, undefined, node);
    const answer = await client.get(cluster.url(node), key, consistency);
    if (answer.status === 404 && failureOf(answer) === 'KEY_NOT_FOUND') return pending.ok(null).type;
    if (answer.status === 200) learn(key, answer.body?.value, answer.body?.modRevision);
    return completeRead(pending, answer, () => answer.body?.value ?? null);
  }

  async function write(process: number, node: number, key: string): Promise<OpType> {
    const value = nextValue++;
    const pending = recorder.invoke(process, 'write', key, value, node);
    const answer = await client.put(cluster.url(node), key, value);
    if (answer.status === 200) learn(key, value, answer.body?.revision);
    return completeWrite(pending, answer);
  }

  async function compareAndSet(process: number, node: number, key: string): Promise<OpType> {
    const expected = known.get(key) ?? { value: null, revision: 0 };
    const value = nextValue++;
    const pending = recorder.invoke(process, 'cas', key, [expected.value, value], node);
    const answer = await client.put(cluster.url(node), key, value, expected.revision);
    if (answer.status === 200) learn(key, value, answer.body?.revision);
    return completeWrite(pending, answer);
  }

  return {
    name: 'register',
    step(process, node) {
      const key = random.pick(keys);
      const roll = random.next();
      if (roll < readShare) return read(process, node, key, options.consistency);
      if (roll < readShare + writeShare) return write(process, node, key);
      return compareAndSet(process, node, key);
    },
    async finalReads(firstProcess) {
      // Every node reads every key, linearizably: a write acknowledged and then lost shows up here.
      const nodes = cluster.members.map((member) => member.id);
      await Promise.all(
        nodes.map(async (node, i) => {
          for (const key of keys) await read(firstProcess + i, node, key, 'linearizable');
        }),
      );
    },
    check: (history, timeLimitMs) => [checkLinearizability(history, timeLimitMs), checkStaleReads(history)],
  };
}

function checkLinearizability(history: readonly HistoryOp[], timeLimitMs: number): CheckerResult {
  const result = checkRegisterLinearizability(history, { timeLimitMs });
  const opCount = result.keys.reduce((sum, key) => sum + key.opCount, 0);
  const scope = `${opCount} register ops on ${result.keys.length} keys`;
  const invalid = result.keys.find((key) => key.valid === false);
  const undecided = result.keys.filter((key) => key.valid === 'unknown').map((key) => key.key);
  const details = { keys: result.keys.map(({ key, valid, opCount }) => ({ key, valid, opCount })) };
  if (invalid)
    return {
      checker: 'linearizability',
      valid: false,
      summary: `${scope}: key ${invalid.key} is not linearizable`,
      details,
      counterexample: {
        description: `No order of the ops on ${invalid.key} explains what its reads saw. These ops lead up to the first one that no linearization could reach.`,
        ops: invalid.counterexample ?? [],
      },
    };
  if (undecided.length > 0)
    return {
      checker: 'linearizability',
      valid: 'unknown',
      summary: `${scope}: ran out of time (${timeLimitMs} ms) on ${undecided.join(', ')}`,
      details,
    };
  return { checker: 'linearizability', valid: true, summary: `${scope}: linearizable`, details };
}
