// report.html: the tables of report.md with inline SVG charts (throughput and p99 against
// concurrency, one line per system; the latency distribution at each concurrency, one line per
// system). Self-contained: no scripts, no external styles.
import {
  failoverIntro,
  failoverTable,
  nothingOdd,
  type PlainTable,
  type ReportSection,
  type RunSetup,
  restartIntro,
  restartTable,
  type ScenarioTable,
  type SystemSeries,
  scenarioTables,
} from './report.js';
import type { ResultRow } from './result-row.js';
import { targetsSection } from './targets.js';

const chartWidthPx = 460;
const chartHeightPx = 240;
const chartMargin = { top: 28, right: 16, bottom: 36, left: 64 };
/** Grid lines divide the y axis into quarters (round labels, since yMax is 1, 2 or 5 x 10^k). */
const gridLines = 4;
const systemColors: Record<string, string> = { raftkv: '#1f6fb4', etcd: '#e07b1a' };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

const plotWidthPx = chartWidthPx - chartMargin.left - chartMargin.right;
const plotHeightPx = chartHeightPx - chartMargin.top - chartMargin.bottom;

/** Pixel positions: a categorical x axis (concurrency 1, 16, 64...; or percentiles), values from 0 up. */
interface ChartScale {
  x(pointIndex: number): number;
  y(value: number): number;
  yMax: number;
}

/** The smallest 1, 2 or 5 times a power of ten at or above `value`, so grid labels are round. */
function roundUp(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((step) => step * magnitude).find((candidate) => candidate >= value)!;
}

function chartScale(pointCount: number, values: readonly number[]): ChartScale {
  const yMax = roundUp(Math.max(...values, Number.MIN_VALUE) * 1.05);
  return {
    x: (i) => chartMargin.left + (pointCount === 1 ? plotWidthPx / 2 : (i * plotWidthPx) / (pointCount - 1)),
    y: (value) => chartMargin.top + plotHeightPx - (value / yMax) * plotHeightPx,
    yMax,
  };
}

/** A categorical x axis: its labels, and what they are. */
interface XAxis {
  labels: readonly string[];
  title: string;
}

function chartAxes(title: string, xAxis: XAxis, scale: ChartScale): string[] {
  const parts = [`<text x="${chartMargin.left}" y="16" class="title">${escapeHtml(title)}</text>`];
  for (let line = 0; line <= gridLines; line++) {
    const value = (scale.yMax * line) / gridLines;
    const label = String(Number(value.toPrecision(3)));
    parts.push(
      `<line x1="${chartMargin.left}" x2="${chartMargin.left + plotWidthPx}" y1="${scale.y(value)}" y2="${scale.y(value)}" class="grid"/>`,
      `<text x="${chartMargin.left - 6}" y="${scale.y(value) + 4}" text-anchor="end">${label}</text>`,
    );
  }
  xAxis.labels.forEach((label, i) => {
    parts.push(
      `<text x="${scale.x(i)}" y="${chartHeightPx - 18}" text-anchor="middle">${escapeHtml(label)}</text>`,
    );
  });
  parts.push(
    `<text x="${chartMargin.left + plotWidthPx / 2}" y="${chartHeightPx - 4}" text-anchor="middle">${escapeHtml(xAxis.title)}</text>`,
  );
  return parts;
}

function seriesLine(
  values: readonly (number | undefined)[],
  system: string,
  legendRow: number,
  scale: ChartScale,
) {
  const color = systemColors[system] ?? '#555';
  const points = values.flatMap((value, i) =>
    value === undefined || !Number.isFinite(value) ? [] : [{ px: scale.x(i), py: scale.y(value), value }],
  );
  return [
    `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.map((p) => `${p.px},${p.py}`).join(' ')}"/>`,
    ...points.map(
      (p) =>
        `<circle cx="${p.px}" cy="${p.py}" r="3" fill="${color}"><title>${system}: ${p.value.toFixed(2)}</title></circle>`,
    ),
    `<text x="${chartMargin.left + plotWidthPx - 70}" y="${chartMargin.top + 14 * legendRow}" fill="${color}">■ ${system}</text>`,
  ];
}

/** One line per system of `pick(series)` against the x axis's categories. */
function lineChart(
  title: string,
  xAxis: XAxis,
  series: readonly SystemSeries[],
  pick: (s: SystemSeries) => (number | undefined)[],
): string {
  const values = series.flatMap(pick).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const scale = chartScale(xAxis.labels.length, values);
  const parts = [
    ...chartAxes(title, xAxis, scale),
    ...series.flatMap((s, row) => seriesLine(pick(s), s.system, row, scale)),
  ];
  return `<svg width="${chartWidthPx}" height="${chartHeightPx}" viewBox="0 0 ${chartWidthPx} ${chartHeightPx}" role="img">${parts.join('')}</svg>`;
}

function htmlTable(table: { header: string[]; cells: string[][] }): string {
  const head = table.header.map((cell) => `<th>${escapeHtml(cell)}</th>`).join('');
  const body = table.cells
    .map((row) => `<tr>${row.map((cell) => `<td>${escapeHtml(cell)}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/**
 * The latency distribution's x axis: evenly spaced nines (each step a tenth of the requests left
 * above it), then the slowest request.
 */
const cdfPercentiles = [50, 90, 99, 99.9, 99.99, 100];
const cdfAxis: XAxis = {
  labels: cdfPercentiles.map((p) => (p === 100 ? 'max' : `p${p}`)),
  title: 'percentile of requests',
};

function latencyAt(points: readonly (readonly [number, number])[], percentile: number): number | undefined {
  return points.find(([p]) => p === percentile)?.[1];
}

function tableSection(table: ScenarioTable): string {
  const clients: XAxis = { labels: table.concurrencies.map(String), title: 'clients' };
  const cdfCharts = table.concurrencies.map((concurrency, i) =>
    lineChart(`latency (ms) by percentile, ${concurrency} clients`, cdfAxis, table.series, (s) =>
      cdfPercentiles.map((p) => latencyAt(s.latencyPercentilesMs[i] ?? [], p)),
    ),
  );
  return [
    `<h2>${escapeHtml(table.title)}</h2>`,
    htmlTable(table),
    '<div class="charts">',
    lineChart('throughput (ops/s)', clients, table.series, (s) => s.opsPerSec),
    lineChart('p99 latency (ms)', clients, table.series, (s) => s.p99Ms),
    ...cdfCharts,
    '</div>',
  ].join('\n');
}

function plainSection(title: string, intro: string, table: PlainTable | undefined): string {
  if (!table) return '';
  return `<h2>${escapeHtml(title)}</h2>\n<p>${escapeHtml(intro)}</p>\n${htmlTable(table)}`;
}

const style = `body{font-family:system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}.charts{display:flex;gap:24px;flex-wrap:wrap}svg{font-size:11px}
svg .grid{stroke:#e5e5e5}svg .title{font-weight:600;font-size:12px}`;

function extraSection(section: ReportSection): string {
  const tables = section.tables.map(({ title, table }) =>
    title === undefined ? htmlTable(table) : `<h3>${escapeHtml(title)}</h3>\n${htmlTable(table)}`,
  );
  return [`<h2>${escapeHtml(section.title)}</h2>`, `<p>${escapeHtml(section.intro)}</p>`, ...tables].join(
    '\n',
  );
}

export function renderHtml(
  rows: readonly ResultRow[],
  setup: RunSetup,
  notes: readonly string[],
  extraSections: readonly ReportSection[] = [],
): string {
  const list = (items: readonly string[]) =>
    `<ul>${items.map((item) => `<li>${escapeHtml(item)}</li>`).join('')}</ul>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>raftkv vs etcd — ${escapeHtml(setup.startedAt)}</title>
<style>${style}</style></head><body>
<h1>raftkv vs etcd — ${escapeHtml(setup.startedAt)}</h1>
<p>Machine: ${escapeHtml(setup.machine)}</p>
${list(setup.lines)}
${extraSection(targetsSection(rows))}
${scenarioTables(rows).map(tableSection).join('\n')}
${plainSection('failover', failoverIntro, failoverTable(rows))}
${plainSection('restart', restartIntro, restartTable(rows))}
${extraSections.map(extraSection).join('\n')}
<h2>Notes</h2>
${list(notes.length > 0 ? notes : [nothingOdd])}
</body></html>
`;
}
