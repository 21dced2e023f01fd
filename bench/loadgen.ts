// The load generator: its own process (so its CPU never mixes with the servers' or the bench's),
// parameters as JSON in argv[2], one JSON result on stdout. See loadgen-protocol.ts.
import { performance } from 'node:perf_hooks';
import { build, type Histogram } from 'hdr-histogram-js';
import { cpuSecBetween, cpuSecOf, machineBusyCpuSec, roundCpuSec } from './cpu.js';
import { casConflict, createKvDriver, type KvDriver, type Outcome } from './kv-drivers.js';
import { type LoadgenParams, type LoadgenResult, latencyPercentiles } from './loadgen-protocol.js';

/** Latencies are recorded in microseconds; longer ones than this are clamped to it. */
const latencyUsMax = 120_000_000;

/** One request to send: which key, and (open loop) when it is due, in performance.now() ms. */
interface Slot {
  keyIndex: number;
  dueMs?: number;
}

/** Hands out the requests of one run; undefined once the run is over. */
function slotSource(params: LoadgenParams, startMs: number, windowEndMs: number): () => Slot | undefined {
  const randomKey = params.op === 'cas' ? () => 0 : () => Math.floor(Math.random() * params.keyCount);
  let issued = 0;
  if (params.pattern === 'fill') {
    return () => (issued < params.keyCount ? { keyIndex: issued++ } : undefined);
  }
  if (params.pattern === 'open') {
    const intervalMs = 1000 / params.rateOpsPerSec!;
    return () => {
      const dueMs = startMs + issued++ * intervalMs;
      return dueMs < windowEndMs ? { keyIndex: randomKey(), dueMs } : undefined;
    };
  }
  return () => (performance.now() < windowEndMs ? { keyIndex: randomKey() } : undefined);
}

/** Counts what happened to requests sent inside the measurement window. */
class WindowRecorder {
  readonly latencyUs: Histogram = build({
    highestTrackableValue: latencyUsMax,
    numberOfSignificantValueDigits: 3,
  });
  ops = 0;
  errors = 0;
  conflicts = 0;
  readonly errorKinds: Record<string, number> = {};

  constructor(private readonly windowStartMs: number) {}

  record(sentMs: number, answeredMs: number, outcome: Outcome): void {
    if (sentMs < this.windowStartMs) return;
    if (outcome === casConflict) this.conflicts++;
    else if (outcome !== undefined) {
      this.errors++;
      this.errorKinds[outcome] = (this.errorKinds[outcome] ?? 0) + 1;
      return;
    }
    this.ops++;
    this.latencyUs.recordValue(Math.min(latencyUsMax, Math.max(1, Math.round((answeredMs - sentMs) * 1000))));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type CpuUsed = Pick<LoadgenResult, 'loadgenCpuSec' | 'cpuSecByPid' | 'machineCpuSec'>;

/** CPU of the watched servers, of this process and of the whole machine between start() and end(). */
class CpuWindow {
  private before: { servers: Map<number, number>; self: NodeJS.CpuUsage; machine: number } | undefined;
  private used: CpuUsed | undefined;

  constructor(private readonly watchPids: readonly number[]) {}

  start(): void {
    this.before = {
      servers: cpuSecOf(this.watchPids),
      self: process.cpuUsage(),
      machine: machineBusyCpuSec(),
    };
  }

  end(): void {
    if (this.used || !this.before) return;
    const self = process.cpuUsage(this.before.self);
    this.used = {
      loadgenCpuSec: (self.user + self.system) / 1e6,
      cpuSecByPid: cpuSecBetween(this.before.servers, cpuSecOf(this.watchPids)),
      machineCpuSec: roundCpuSec(machineBusyCpuSec() - this.before.machine),
    };
  }

  result(): CpuUsed {
    this.end();
    return this.used!;
  }
}

function sender(driver: KvDriver, op: LoadgenParams['op']): (key: string) => Promise<Outcome> {
  if (op === 'put') return (key) => driver.put(key);
  return op === 'get' ? (key) => driver.get(key) : (key) => driver.cas(key);
}

async function runLoad(params: LoadgenParams): Promise<LoadgenResult> {
  const driver = createKvDriver(params);
  const send = sender(driver, params.op);
  const startMs = performance.now();
  const fill = params.pattern === 'fill';
  const windowStartMs = fill ? startMs : startMs + params.warmupMs;
  const windowEndMs = fill ? Number.POSITIVE_INFINITY : windowStartMs + params.durationMs;
  const nextSlot = slotSource(params, startMs, windowEndMs);
  const recorder = new WindowRecorder(windowStartMs);
  const cpu = new CpuWindow(params.watchPids);
  const cpuTimers: NodeJS.Timeout[] = [];
  if (fill) cpu.start();
  else {
    cpuTimers.push(
      setTimeout(() => cpu.start(), params.warmupMs),
      setTimeout(() => cpu.end(), params.warmupMs + params.durationMs),
    );
  }

  async function client(): Promise<void> {
    for (let slot = nextSlot(); slot; slot = nextSlot()) {
      if (slot.dueMs !== undefined && slot.dueMs > performance.now())
        await sleep(slot.dueMs - performance.now());
      // Open loop: latency counts from when the request was due, not from when it could be sent.
      const sentMs = slot.dueMs ?? performance.now();
      const outcome = await send(`${params.keyPrefix}${slot.keyIndex}`);
      recorder.record(sentMs, performance.now(), outcome);
    }
  }
  await Promise.all(Array.from({ length: params.concurrency }, client));
  const windowSec = fill ? (performance.now() - startMs) / 1000 : params.durationMs / 1000;
  const cpuUsed = cpu.result();
  for (const timer of cpuTimers) clearTimeout(timer);
  await driver.close();
  return summarize(recorder, windowSec, cpuUsed);
}

function summarize(recorder: WindowRecorder, windowSec: number, cpu: CpuUsed): LoadgenResult {
  const msAt = (percentile: number) => recorder.latencyUs.getValueAtPercentile(percentile) / 1000;
  return {
    ops: recorder.ops,
    errors: recorder.errors,
    conflicts: recorder.conflicts,
    errorKinds: recorder.errorKinds,
    windowSec,
    p50Ms: msAt(50),
    p99Ms: msAt(99),
    p999Ms: msAt(99.9),
    meanMs: recorder.ops > 0 ? recorder.latencyUs.mean / 1000 : 0,
    maxMs: recorder.latencyUs.maxValue / 1000,
    latencyPercentilesMs:
      recorder.ops > 0
        ? latencyPercentiles.map((p): [number, number] => [
            p,
            p === 100 ? recorder.latencyUs.maxValue / 1000 : msAt(p),
          ])
        : [],
    ...cpu,
  };
}

const params = JSON.parse(process.argv[2] ?? '') as LoadgenParams;
const result = await runLoad(params);
// Exit once the result is out: a closed gRPC client may still hold timers that keep Node alive.
process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
