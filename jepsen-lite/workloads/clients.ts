// The client phase: `concurrency` workers, each bound to one node (so clients spread over all
// of them), each issuing one op at a time at a share of the total rate. A worker whose op ends
// indeterminate (`info`) takes a new process id, Jepsen's way: the old process may still have
// that op in flight, and the checkers assume one op per process at a time.
import { sleepUnlessAborted } from '../abortable-sleep.js';
import type { Prng } from '../sim/prng.js';
import type { Workload } from './workload.js';

export interface ClientPhaseOptions {
  workload: Workload;
  nodes: readonly number[];
  concurrency: number;
  /** Ops started per second, all workers together. */
  opsPerSecond: number;
  /** performance.now() after which no op starts. */
  endsAtMs: number;
  signal: AbortSignal;
  random: Prng;
}

/** Runs the workers until the phase ends; resolves to the first process id no worker used. */
export async function runClients(options: ClientPhaseOptions): Promise<number> {
  const { workload, nodes, concurrency, signal, random } = options;
  // Each worker waits an exponential gap between ops: together, a Poisson stream at the rate.
  const meanGapMs = (concurrency * 1000) / options.opsPerSecond;
  let nextFreeProcess = concurrency;
  const worker = async (workerIndex: number) => {
    let process = workerIndex;
    const node = nodes[workerIndex % nodes.length]!;
    await sleepUnlessAborted(random.between(0, meanGapMs), signal);
    while (!signal.aborted && performance.now() < options.endsAtMs) {
      const type = await workload.step(process, node);
      if (type === 'info') process += concurrency;
      nextFreeProcess = Math.max(nextFreeProcess, process + 1);
      const remainingMs = options.endsAtMs - performance.now();
      await sleepUnlessAborted(Math.min(random.exponential(meanGapMs), remainingMs), signal);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, workerIndex) => worker(workerIndex)));
  return nextFreeProcess;
}
