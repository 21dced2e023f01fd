// The report's three charts over the run's time: the timeline of ops per client (a bar from
// invoke to completion, coloured by outcome), latency (a point per op) and throughput (ops
// completed per time bucket, by outcome). Fault windows are shaded on each.
import type { ClientCall } from '../client-calls.js';
import type { HistoryOp } from '../history.js';
import type { FaultWindow } from './history-views.js';
import {
  chart,
  escapeHtml,
  faultBands,
  niceStep,
  nsPerSecond,
  type Outcome,
  outcomeColours,
  sampleEvenly,
  type TimeScale,
  timeAxis,
} from './svg.js';

/** Bars drawn in the timeline and points in the latency chart; more are sampled evenly. */
export const chartOpsMax = 20_000;
/** Buckets across the throughput chart (at least a second each). */
const throughputBucketsMax = 300;
const rowHeightPx = 14;
const nsPerMs = 1e6;

function outcomeOf(call: ClientCall): Outcome {
  const type = call.completion?.type;
  return type === 'ok' || type === 'fail' ? type : 'info';
}

function describeCall(call: ClientCall): string {
  const { invoke, completion } = call;
  const value = invoke.value === undefined ? '' : ` ${JSON.stringify(invoke.value)}`;
  const result = completion === undefined ? 'no answer' : completion.type;
  const read =
    completion?.type === 'ok' && invoke.f === 'read' ? ` = ${JSON.stringify(completion.value)}` : '';
  const latency = completion ? ` in ${((completion.time - invoke.time) / nsPerMs).toFixed(1)} ms` : '';
  const error = completion?.error ? ` (${completion.error})` : '';
  return `#${invoke.index} process ${invoke.process} on node ${invoke.node ?? '?'}: ${invoke.f} ${invoke.key ?? ''}${value} -> ${result}${read}${error}${latency}`.slice(
    0,
    400,
  );
}

export interface TimelineInput {
  calls: readonly ClientCall[];
  windows: readonly FaultWindow[];
  scale: TimeScale;
  /** Client workers: a worker's processes (it takes a new one after each `info`) share a row. */
  concurrency: number;
  /** Ops of the counterexample, outlined. */
  highlighted: ReadonlySet<number>;
}

export function timelineSvg({ calls, windows, scale, concurrency, highlighted }: TimelineInput): string {
  const rowOf = (op: HistoryOp) => (op.process as number) % concurrency;
  const rows = Math.max(concurrency, ...calls.map((call) => rowOf(call.invoke) + 1));
  const top = 18;
  const height = rows * rowHeightPx;
  const { items, sampled } = sampleEvenly(calls, chartOpsMax);
  const bars = items.map((call) => {
    const x1 = scale.x(call.invoke.time);
    const x2 = scale.x(call.completion?.time ?? scale.durationNs);
    const y = top + rowOf(call.invoke) * rowHeightPx + 1;
    const outline = highlighted.has(call.invoke.index) ? ' stroke="#000" stroke-width="2"' : '';
    return `<rect x="${x1.toFixed(1)}" y="${y}" width="${Math.max(1, x2 - x1).toFixed(1)}" height="${rowHeightPx - 2}" fill="${outcomeColours[outcomeOf(call)]}"${outline}><title>${escapeHtml(describeCall(call))}</title></rect>`;
  });
  const labels = Array.from(
    { length: rows },
    (_, row) =>
      `<text x="${chart.left - 6}" y="${top + row * rowHeightPx + 11}" class="tick" text-anchor="end">client ${row}</text>`,
  );
  const svgHeight = top + height + 24;
  return svgFrame('timeline', svgHeight, [
    faultBands(windows, scale, top, height, true),
    timeAxis(scale, top, height),
    ...labels,
    ...bars,
    sampled
      ? `<text x="${chart.left}" y="12" class="tick">${chartOpsMax} of ${calls.length} ops shown (evenly sampled)</text>`
      : '',
  ]);
}

export function latencySvg(
  calls: readonly ClientCall[],
  windows: readonly FaultWindow[],
  scale: TimeScale,
): string {
  const completed = calls.filter((call) => call.completion !== undefined);
  const latencyMs = (call: ClientCall) => Math.max(0.1, (call.completion!.time - call.invoke.time) / nsPerMs);
  const maxMs = Math.max(10, ...completed.map(latencyMs));
  const decades = Math.ceil(Math.log10(maxMs)) + 1;
  const top = 10;
  const height = 220;
  // Log scale from 0.1 ms: latencies span from sub-millisecond reads to multi-second timeouts.
  const y = (ms: number) => top + height - ((Math.log10(ms) + 1) / decades) * height;
  const grid = Array.from({ length: decades + 1 }, (_, i) => {
    const ms = 10 ** (i - 1);
    return `<line x1="${chart.left}" x2="${chart.left + chart.width}" y1="${y(ms).toFixed(1)}" y2="${y(ms).toFixed(1)}" class="grid"/><text x="${chart.left - 6}" y="${(y(ms) + 4).toFixed(1)}" class="tick" text-anchor="end">${ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`}</text>`;
  });
  const { items } = sampleEvenly(completed, chartOpsMax);
  const points = items.map(
    (call) =>
      `<circle cx="${scale.x(call.invoke.time).toFixed(1)}" cy="${y(latencyMs(call)).toFixed(1)}" r="2" fill="${outcomeColours[outcomeOf(call)]}" fill-opacity="0.75"><title>${escapeHtml(describeCall(call))}</title></circle>`,
  );
  return svgFrame('latency', top + height + 24, [
    faultBands(windows, scale, top, height, false),
    timeAxis(scale, top, height),
    ...grid,
    ...points,
  ]);
}

export function throughputSvg(
  calls: readonly ClientCall[],
  windows: readonly FaultWindow[],
  scale: TimeScale,
): string {
  const bucketNs = Math.max(
    nsPerSecond,
    Math.ceil(scale.durationNs / throughputBucketsMax / nsPerSecond) * nsPerSecond,
  );
  const bucketCount = Math.max(1, Math.ceil(scale.durationNs / bucketNs));
  const counts: Record<Outcome, number[]> = {
    ok: new Array(bucketCount).fill(0),
    fail: new Array(bucketCount).fill(0),
    info: new Array(bucketCount).fill(0),
  };
  for (const call of calls) {
    if (call.completion === undefined) continue;
    const bucket = Math.min(bucketCount - 1, Math.floor(call.completion.time / bucketNs));
    counts[outcomeOf(call)][bucket]! += 1;
  }
  const perSecond = (count: number) => count / (bucketNs / nsPerSecond);
  const maxRate = Math.max(1, ...Object.values(counts).flatMap((series) => series.map(perSecond)));
  const top = 10;
  const height = 160;
  const y = (rate: number) => top + height - (rate / maxRate) * height;
  const step = niceStep(maxRate, 5);
  const grid: string[] = [];
  for (let rate = 0; rate <= maxRate + 1e-9; rate += step)
    grid.push(
      `<line x1="${chart.left}" x2="${chart.left + chart.width}" y1="${y(rate).toFixed(1)}" y2="${y(rate).toFixed(1)}" class="grid"/><text x="${chart.left - 6}" y="${(y(rate) + 4).toFixed(1)}" class="tick" text-anchor="end">${Number(rate.toFixed(2))}/s</text>`,
    );
  const lines = (Object.keys(counts) as Outcome[]).map((outcome) => {
    const points = counts[outcome].map(
      (count, bucket) => `${scale.x((bucket + 0.5) * bucketNs).toFixed(1)},${y(perSecond(count)).toFixed(1)}`,
    );
    return `<polyline points="${points.join(' ')}" fill="none" stroke="${outcomeColours[outcome]}" stroke-width="1.5"><title>${outcome} per second</title></polyline>`;
  });
  return svgFrame('throughput', top + height + 24, [
    faultBands(windows, scale, top, height, false),
    timeAxis(scale, top, height),
    ...grid,
    ...lines,
  ]);
}

function svgFrame(id: string, height: number, parts: string[]): string {
  const width = chart.left + chart.width + chart.right;
  return `<svg id="${id}" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`;
}
