// `raftkv jepsen`: a fresh 5-node cluster from the built binary, every peer link through its own
// proxy; clients and the nemesis run for --time seconds; everything is healed; the cluster must
// recover; final reads; the checkers judge the history; the run directory gets history.jsonl,
// results.json and report.html. Exit 0 pass, 1 violation, 2 the run failed, 3 inconclusive.
import { setMaxListeners } from 'node:events';
import { UsageError } from '../src/cli-args.js';
import { type CheckerResult, exitCodeOf, exitCodes, runVerdict } from './checkers/verdict.js';
import { HistoryRecorder } from './history.js';
import type { Nemesis } from './nemesis/nemesis.js';
import { NemesisSpecError, nodeFlagsFor, parseNemesisSpec } from './nemesis/registry.js';
import { faultTimingOf, runFaultSchedule } from './nemesis/schedule.js';
import { formatSummary, ProgressPrinter } from './progress.js';
import { KvClient } from './real/kv-client.js';
import { RealCluster } from './real/real-cluster.js';
import { checkNodesAlive, checkRecovery } from './recovery.js';
import type { ReportVerdict } from './report/report.js';
import { copyNodeLogs, createRunDir, writeRunFiles } from './run-files.js';
import { type JepsenOptions, jepsenUsage, parseJepsenOptions } from './run-options.js';
import { Prng } from './sim/prng.js';
import { runClients } from './workloads/clients.js';
import { registerWorkload } from './workloads/register.js';
import { setWorkload } from './workloads/set.js';
import type { Workload, WorkloadContext } from './workloads/workload.js';

const clusterSize = 5;
/** From starting the processes to a leader that a majority follows. */
const firstLeaderDeadlineMs = 30_000;
/** Faults in one run, whatever its length. */
const faultsPerRunMax = 10_000;
/** Listeners on the run's abort signal beside the clients' (the nemesis, its sleeps). */
const abortListenersSpare = 8;

interface RunOutcome {
  verdict: ReportVerdict;
  results: CheckerResult[];
  faultCount: number;
  notes: string[];
}

/** What a run has gathered so far; kept outside the run so a failed run still reports it. */
class RunRecord {
  private startNs = process.hrtime.bigint();
  readonly recorder = new HistoryRecorder(() => Number(process.hrtime.bigint() - this.startNs));
  readonly notes: string[] = [];
  readonly startedAt = new Date();
  /** Wall-clock ms of history time 0, to line the history up with the nodes' logs. */
  historyTimeZeroMs = Date.now();

  /** History time 0: when the clients start. */
  startClock(): void {
    this.startNs = process.hrtime.bigint();
    this.historyTimeZeroMs = Date.now();
  }
}

export async function jepsenMain(argv: readonly string[]): Promise<number> {
  let options: JepsenOptions;
  try {
    options = parseJepsenOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof NemesisSpecError)) throw error;
    console.error(`raftkv jepsen: ${error.message}\nusage: ${jepsenUsage}`);
    return exitCodes.runFailed;
  }
  const runDir = await createRunDir(options.runsDir);
  console.log(`jepsen-lite: ${describeRun(options)}; writing ${runDir}`);
  const abort = new AbortController();
  // Every client and the nemesis wait on this one signal.
  setMaxListeners(options.concurrency + abortListenersSpare, abort.signal);
  const stopListening = abortOnInterrupt(abort);
  const run = new RunRecord();
  let outcome: RunOutcome;
  try {
    outcome = await runJepsen(options, runDir, abort.signal, run);
  } catch (error) {
    const notes = [`the run failed: ${(error as Error).message}`];
    outcome = { verdict: 'run failed', results: [], faultCount: 0, notes };
  } finally {
    stopListening();
  }
  return finishRun(options, runDir, run, outcome);
}

/** The nodes run detached: on Ctrl-C the run must live on long enough to heal and stop them. */
function abortOnInterrupt(abort: AbortController): () => void {
  const interrupt = () => {
    const stopping = abort.signal.aborted;
    console.log(
      stopping ? 'already stopping, please wait' : 'interrupted: healing, then checking what was recorded',
    );
    abort.abort();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  return () => {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  };
}

/** Writes the run directory, prints the summary, and answers the exit code. */
async function finishRun(options: JepsenOptions, runDir: string, run: RunRecord, outcome: RunOutcome) {
  const exitCode = outcome.verdict === 'run failed' ? exitCodes.runFailed : exitCodeOf(outcome.verdict);
  const history = run.recorder.ops;
  const notes = [...run.notes, ...outcome.notes];
  const title = describeRun(options);
  const files = await writeRunFiles(runDir, {
    report: {
      ...outcome,
      notes,
      title,
      settings: settingsOf(options),
      history,
      concurrency: options.concurrency,
    },
    exitCode,
    extra: {
      options,
      startedAt: run.startedAt.toISOString(),
      durationMs: Date.now() - run.startedAt.getTime(),
      historyTimeZeroMs: run.historyTimeZeroMs,
    },
  });
  console.log(formatSummary({ ...outcome, notes, title, history, reportPath: files.report }));
  return exitCode;
}

function describeRun(options: JepsenOptions): string {
  return `${options.workload} workload, nemesis ${options.nemesis}, ${options.timeS} s, seed ${options.seed}`;
}

function settingsOf(options: JepsenOptions): Array<[string, string]> {
  return [
    ['workload', options.workload],
    [
      'nemesis',
      `${options.nemesis}, quiet ~${options.nemesisIntervalS} s, faults ~${options.faultDurationS} s`,
    ],
    ['time', `${options.timeS} s`],
    [
      'rate',
      `${options.opsPerSecond} ops/s, ${options.concurrency} clients, op timeout ${options.opTimeoutMs} ms`,
    ],
    ...(options.workload === 'register'
      ? ([
          ['read consistency', options.consistency],
          ['register keys', String(options.keys)],
        ] as Array<[string, string]>)
      : []),
    ['node flags', options.nodeFlags.join(' ') || '(none)'],
    ['seed', String(options.seed)],
    ['replay', `npm run jepsen -- ${replayArgs(options)}`],
  ];
}

function replayArgs(options: JepsenOptions): string {
  const nodeFlags = options.nodeFlags.length > 0 ? ` --node-flags "${options.nodeFlags.join(' ')}"` : '';
  return `--workload ${options.workload} --nemesis ${options.nemesis} --nemesis-interval ${options.nemesisIntervalS} --fault-duration ${options.faultDurationS} --time ${options.timeS} --rate ${options.opsPerSecond} --concurrency ${options.concurrency} --op-timeout ${options.opTimeoutMs} --consistency ${options.consistency} --keys ${options.keys} --seed ${options.seed}${nodeFlags}`;
}

async function runJepsen(
  options: JepsenOptions,
  runDir: string,
  signal: AbortSignal,
  run: RunRecord,
): Promise<RunOutcome> {
  const random = new Prng(options.seed);
  const nemeses = parseNemesisSpec(options.nemesis);
  const linkRandom = random.fork();
  const cluster = await RealCluster.start(clusterSize, {
    proxies: true,
    nodeFlags: [...options.nodeFlags, ...nodeFlagsFor(nemeses)],
    random: () => linkRandom.next(),
  });
  const client = new KvClient(options.opTimeoutMs);
  try {
    await cluster.waitForLeader(firstLeaderDeadlineMs);
    const context: WorkloadContext = { cluster, client, recorder: run.recorder, random: random.fork() };
    const workload = makeWorkload(options, context);
    run.startClock();
    const phase = { options, cluster, workload, nemeses, run, signal, random: random.fork() };
    const { nextProcess, faultCount } = await runFaultPhase(phase);
    if (signal.aborted) run.notes.push('interrupted before the end of the fault phase');
    console.log('  faults healed; waiting for the cluster to recover');
    const recovery = await checkRecovery(cluster);
    console.log(`  recovery: ${recovery.summary}; final reads`);
    await workload.finalReads(nextProcess);
    console.log('  checking the history');
    const alive = await checkNodesAlive(cluster);
    const results = [...workload.check(run.recorder.ops, options.checkerTimeS * 1000), recovery, alive];
    return { verdict: runVerdict(results), results, faultCount, notes: [] };
  } finally {
    await client.close();
    await copyNodeLogs(cluster.dataDir, runDir);
    await cluster.destroy();
  }
}

function makeWorkload(options: JepsenOptions, context: WorkloadContext): Workload {
  return options.workload === 'register'
    ? registerWorkload(context, { consistency: options.consistency, keysCount: options.keys })
    : setWorkload(context);
}

interface FaultPhase {
  options: JepsenOptions;
  cluster: RealCluster;
  workload: Workload;
  nemeses: readonly Nemesis[];
  run: RunRecord;
  signal: AbortSignal;
  random: Prng;
}

/** Clients and faults side by side until --time is up; the last fault is healed before this returns. */
async function runFaultPhase(phase: FaultPhase): Promise<{ nextProcess: number; faultCount: number }> {
  const { options, cluster, workload, run, signal, random } = phase;
  const endsAtMs = performance.now() + options.timeS * 1000;
  const progress = new ProgressPrinter(run.recorder, options.timeS);
  progress.start();
  try {
    const nodes = cluster.members.map((member) => member.id);
    const [nextProcess, faults] = await Promise.all([
      runClients({
        workload,
        nodes,
        concurrency: options.concurrency,
        opsPerSecond: options.opsPerSecond,
        endsAtMs,
        signal,
        random: random.fork(),
      }),
      runFaultSchedule({
        nemeses: phase.nemeses,
        context: { cluster, random: random.fork() },
        recorder: run.recorder,
        endsAtMs,
        timing: faultTimingOf(options.nemesisIntervalS, options.faultDurationS, faultsPerRunMax),
        signal,
        onFault: (nemesis, fault) => {
          progress.fault = fault === undefined ? undefined : `${nemesis.f}: ${fault.target}`;
        },
      }),
    ]);
    run.notes.push(...faults.errors.map((error) => `fault not (fully) injected or healed: ${error}`));
    return { nextProcess, faultCount: faults.faults };
  } finally {
    progress.stop();
  }
}
