// The set workload: clients add unique elements, each one a key under a prefix; once the
// cluster has healed, every node lists the prefix page by page (the range API), and the set
// checker compares what each node holds with what the clients were told.
import { checkSet } from '../checkers/set.js';
import type { OpType } from '../history.js';
import { failureOf } from '../real/kv-client.js';
import { completeWrite, type Workload, type WorkloadContext } from './workload.js';

const setPrefix = 'set/';
/** Items per page of the final reads (the API's maximum). */
const finalReadPageItems = 1000;
/** Pages per final read: a million elements, far more than any run adds. */
const finalReadPagesMax = 1000;
/** A final read that fails is tried again, as a new op, this many times in all. */
const finalReadAttemptsMax = 3;

interface RangePage {
  items: Array<{ key: string; value: unknown }>;
  more: boolean;
}

export function setWorkload(context: WorkloadContext): Workload {
  const { cluster, client, recorder } = context;
  let nextElement = 1;

  async function add(process: number, node: number): Promise<OpType> {
    const element = nextElement++;
    const key = `${setPrefix}${element}`;
    const pending = recorder.invoke(process, 'add', key, element, node);
    return completeWrite(pending, await client.put(cluster.url(node), key, element));
  }

  /** Every element under the prefix on `node`, or why the listing failed. */
  async function listElements(node: number): Promise<{ elements: number[] } | { failure: string }> {
    const elements: number[] = [];
    let after = '';
    for (let page = 0; page < finalReadPagesMax; page++) {
      const answer = await client.range(cluster.url(node), {
        prefix: setPrefix,
        after,
        limit: finalReadPageItems,
      });
      if (answer.status !== 200) return { failure: failureOf(answer) };
      const { items, more } = answer.body as unknown as RangePage;
      for (const item of items) elements.push(Number(item.key.slice(setPrefix.length)));
      if (!more || items.length === 0) return { elements: elements.sort((a, b) => a - b) };
      after = items.at(-1)!.key;
    }
    return { failure: `more than ${finalReadPagesMax} pages` };
  }

  async function finalRead(process: number, node: number): Promise<void> {
    for (let attempt = 1; attempt <= finalReadAttemptsMax; attempt++) {
      const pending = recorder.invoke(process, 'read', setPrefix, undefined, node);
      const listed = await listElements(node);
      if ('elements' in listed) {
        pending.ok(listed.elements);
        return;
      }
      pending.fail(listed.failure);
    }
  }

  return {
    name: 'set',
    step: (process, node) => add(process, node),
    async finalReads(firstProcess) {
      const nodes = cluster.members.map((member) => member.id);
      await Promise.all(nodes.map((node, i) => finalRead(firstProcess + i, node)));
    },
    check: (history) => [checkSet(history)],
  };
}
