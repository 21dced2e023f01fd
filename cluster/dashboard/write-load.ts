// The dashboard's steady write load: PUTs at a fixed rate to the leader (or any live node, which
// forwards), counted per time bucket so a failover shows as a gap in the chart.
import { Agent, request } from 'undici';

/** The rate the load aims at; slots the inflight window cannot take are skipped, not queued. */
export const loadWritesPerSecond = 200;
export const loadInflightMax = 64;
/** Short, so writes stuck on a paused node free their slot soon after a new leader is up. */
export const loadWriteTimeoutMs = 1_000;
/** The load rewrites this many keys over and over, so the store does not grow. */
export const loadKeysMax = 1_000;
/** The chart's resolution and length: 240 buckets of 250 ms, one minute. */
export const chartBucketMs = 250;
export const chartBucketsKept = 240;
/** How often the scheduler issues the writes that are due. */
const loadTickMs = 10;
/** Writes/s and errors/s are measured over the last second of complete buckets. */
const rateWindowBuckets = 1_000 / chartBucketMs;

export interface WriteBucket {
  startMs: number;
  ok: number;
  errors: number;
}

export interface WriteLoadOptions {
  /** The client URL to write to next, or null when no node can take a write. */
  pickTarget: () => string | null;
  /** Every acknowledged write, with when it was sent and when it was acknowledged. */
  onAcknowledged?: (startedAtMs: number, ackedAtMs: number) => void;
  now?: () => number;
}

export class WriteLoad {
  private readonly agent = new Agent({ connections: loadInflightMax, connectTimeout: loadWriteTimeoutMs });
  private readonly buckets = new Map<number, WriteBucket>();
  private timer: NodeJS.Timeout | undefined;
  private scheduleStartMs = 0;
  private slotsScheduled = 0;
  private inflight = 0;
  private writesSent = 0;
  private readonly now: () => number;

  constructor(private readonly options: WriteLoadOptions) {
    this.now = options.now ?? Date.now;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  setRunning(running: boolean): void {
    if (running === this.running) return;
    if (!running) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    this.scheduleStartMs = this.now();
    this.slotsScheduled = 0;
    this.timer = setInterval(() => this.issueDueWrites(), loadTickMs);
  }

  async close(): Promise<void> {
    this.setRunning(false);
    await this.agent.close();
  }

  /** The last minute, one bucket per chartBucketMs, oldest first; quiet buckets are zeros. */
  series(): WriteBucket[] {
    const currentStartMs = this.bucketStart(this.now());
    return Array.from({ length: chartBucketsKept }, (_, i) => {
      const startMs = currentStartMs - (chartBucketsKept - 1 - i) * chartBucketMs;
      return this.buckets.get(startMs) ?? { startMs, ok: 0, errors: 0 };
    });
  }

  /** Acknowledged writes and errors per second over the last complete second. */
  rates(): { writesPerSec: number; errorsPerSec: number } {
    const complete = this.series().slice(-1 - rateWindowBuckets, -1);
    const sum = (pick: (bucket: WriteBucket) => number) => complete.reduce((total, b) => total + pick(b), 0);
    return { writesPerSec: sum((b) => b.ok), errorsPerSec: sum((b) => b.errors) };
  }

  private issueDueWrites(): void {
    const due = Math.floor(((this.now() - this.scheduleStartMs) * loadWritesPerSecond) / 1_000);
    for (; this.slotsScheduled < due; this.slotsScheduled++) {
      if (this.inflight < loadInflightMax) void this.writeOnce();
    }
  }

  private async writeOnce(): Promise<void> {
    const startedAtMs = this.now();
    const target = this.options.pickTarget();
    if (target === null) {
      this.count(startedAtMs, false);
      return;
    }
    const sequence = this.writesSent++;
    this.inflight++;
    let acknowledged = false;
    try {
      const response = await request(`${target}/v1/kv/dashboard-load/${sequence % loadKeysMax}`, {
        method: 'PUT',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ value: { sequence, startedAtMs } }),
        headersTimeout: loadWriteTimeoutMs,
        bodyTimeout: loadWriteTimeoutMs,
      });
      await response.body.dump();
      acknowledged = response.statusCode === 200;
    } catch {
      // A refused connection, a reset or a timeout: counted as an error below.
    } finally {
      this.inflight--;
    }
    const ackedAtMs = this.now();
    this.count(ackedAtMs, acknowledged);
    if (acknowledged) this.options.onAcknowledged?.(startedAtMs, ackedAtMs);
  }

  private count(atMs: number, acknowledged: boolean): void {
    const startMs = this.bucketStart(atMs);
    let bucket = this.buckets.get(startMs);
    if (!bucket) {
      bucket = { startMs, ok: 0, errors: 0 };
      this.buckets.set(startMs, bucket);
      this.dropOldBuckets(startMs);
    }
    if (acknowledged) bucket.ok++;
    else bucket.errors++;
  }

  private dropOldBuckets(newestStartMs: number): void {
    const oldestKeptMs = newestStartMs - (chartBucketsKept - 1) * chartBucketMs;
    for (const startMs of this.buckets.keys()) if (startMs < oldestKeptMs) this.buckets.delete(startMs);
  }

  private bucketStart(atMs: number): number {
    return Math.floor(atMs / chartBucketMs) * chartBucketMs;
  }
}
