// results.json -> the side-by-side tables (one per scenario and read level), the notes on
// anything odd in the run, and report.md. report-html.ts draws the same tables with charts.
import type { SystemName } from './loadgen-protocol.js';
import type { ResultRow } from './result-row.js';

/** What the reader needs to know about the run beside the numbers. */
export interface RunSetup {
  startedAt: string;
  machine: string;
  lines: string[];
}

export interface SystemSeries {
  system: SystemName;
  opsPerSec: (number | undefined)[];
  p99Ms: (number | undefined)[];
}

export interface ScenarioTable {
  title: string;
  concurrencies: number[];
  header: string[];
  cells: string[][];
  series: SystemSeries[];
}

/** The notes' one line when there is nothing to call out. */
export const nothingOdd = 'nothing odd: no errors, no saturated process';
/** A process above this share of one core during a window is called out as saturated. */
const saturatedCoreShare = 0.9;
/** Other work on the machine above this many cores during a window is called out as disturbing it. */
const outsideLoadCoresMax = 0.25;

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '—');
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? '—' : `${fixed(a / b, 2)}×`;
const opsPerCpuSec = (row: ResultRow | undefined) =>
  row === undefined ? undefined : row.cpuSec > 0 ? row.ops / row.cpuSec : Number.POSITIVE_INFINITY;

/** A row without a single success has no latency to show. */
const p99Of = (row: ResultRow | undefined) => (row && row.ops > 0 ? row.p99Ms : undefined);
const latencies = (row: ResultRow | undefined) =>
  row && row.ops > 0 ? `${fixed(row.p50Ms, 2)} / ${fixed(row.p99Ms, 2)}` : '—';

export function rowLabel(row: ResultRow): string {
  const level = row.params.consistency ? `/${row.params.consistency}` : '';
  return `${row.scenario}${level} c=${row.params.concurrency}`;
}

function tableTitle(row: ResultRow): string {
  return row.params.consistency ? `${row.scenario} (${row.params.consistency} reads)` : row.scenario;
}

function tableRow(concurrency: number, raftkv: ResultRow | undefined, etcd: ResultRow | undefined): string[] {
  const both = (pick: (row: ResultRow) => string) =>
    `${raftkv ? pick(raftkv) : '—'} / ${etcd ? pick(etcd) : '—'}`;
  return [
    String(concurrency),
    raftkv ? fixed(raftkv.opsPerSec, 0) : '—',
    etcd ? fixed(etcd.opsPerSec, 0) : '—',
    ratio(raftkv?.opsPerSec, etcd?.opsPerSec),
    latencies(raftkv),
    latencies(etcd),
    ratio(p99Of(raftkv), p99Of(etcd)),
    both((row) => fixed(opsPerCpuSec(row)!, 0)),
    both((row) => fixed(row.cpuSec, 1)),
    both((row) => fixed(row.extra.loadgenCpuSec, 1)),
    both((row) => String(row.errors)),
    both((row) => `${row.extra.client}→${row.extra.targets}`),
  ];
}

const header = [
  'clients',
  'raftkv ops/s',
  'etcd ops/s',
  'ops/s raftkv÷etcd',
  'raftkv p50 / p99 ms',
  'etcd p50 / p99 ms',
  'p99 raftkv÷etcd',
  'ops per server CPU-s (raftkv / etcd)',
  'server CPU s',
  'load generator CPU s',
  'errors',
  'via',
];

/** One table per scenario and read level, rows by concurrency, raftkv and etcd side by side. */
export function scenarioTables(rows: readonly ResultRow[]): ScenarioTable[] {
  const titles = [...new Set(rows.map(tableTitle))];
  return titles.map((title) => {
    const group = rows.filter((row) => tableTitle(row) === title);
    const concurrencies = [...new Set(group.map((row) => row.params.concurrency))].sort((a, b) => a - b);
    const find = (system: SystemName, concurrency: number) =>
      group.find((row) => row.system === system && row.params.concurrency === concurrency);
    const systems = [...new Set(group.map((row) => row.system))];
    return {
      title,
      concurrencies,
      header,
      cells: concurrencies.map((c) => tableRow(c, find('raftkv', c), find('etcd', c))),
      series: systems.map((system) => ({
        system,
        opsPerSec: concurrencies.map((c) => find(system, c)?.opsPerSec),
        p99Ms: concurrencies.map((c) => p99Of(find(system, c))),
      })),
    };
  });
}

/** What is odd about one row: errors, a saturated process, outside load, a saturated machine. */
function rowFindings(row: ResultRow, cores: number): string[] {
  const windowSec = row.params.durationSec;
  const percentOfCore = (cpuSec: number) => `${fixed((100 * cpuSec) / windowSec, 0)}% of a core`;
  const findings: string[] = [];
  if (row.extra.failure) findings.push(row.extra.failure);
  else {
    for (const variant of row.extra.variants.filter((v) => v.failure))
      findings.push(`${variant.client}→${variant.targets} ${variant.failure}`);
  }
  if (row.errors > 0) findings.push(`${row.errors} errors ${JSON.stringify(row.extra.errorKinds)}`);
  for (const [name, cpuSec] of Object.entries(row.extra.serverCpuSecByProcess)) {
    if (cpuSec / windowSec >= saturatedCoreShare) findings.push(`${name} used ${percentOfCore(cpuSec)}`);
  }
  if (row.extra.loadgenCpuSec / windowSec >= saturatedCoreShare)
    findings.push(`the load generator used ${percentOfCore(row.extra.loadgenCpuSec)}`);
  if (row.extra.outsideCpuSec / windowSec > outsideLoadCoresMax)
    findings.push(`processes outside the bench used ${fixed(row.extra.outsideCpuSec / windowSec, 2)} cores`);
  const machineCpuSec =
    row.cpuSec + row.extra.loadgenCpuSec + row.extra.otherSystemCpuSec + row.extra.outsideCpuSec;
  if (machineCpuSec / windowSec >= saturatedCoreShare * cores)
    findings.push(
      `the machine's ${cores} cores were ${fixed((100 * machineCpuSec) / (windowSec * cores), 0)}% busy`,
    );
  return findings;
}

/** Everything a reader should not miss, one line per row that has something. */
export function runNotes(rows: readonly ResultRow[], cores: number): string[] {
  return rows.flatMap((row) => {
    const findings = rowFindings(row, cores);
    return findings.length > 0 ? [`${row.system} ${rowLabel(row)}: ${findings.join('; ')}`] : [];
  });
}

function markdownTable(table: ScenarioTable): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(table.header), line(table.header.map(() => '---')), ...table.cells.map(line)].join('\n');
}

export function renderMarkdown(
  rows: readonly ResultRow[],
  setup: RunSetup,
  notes: readonly string[],
): string {
  const sections = scenarioTables(rows).map((table) => `## ${table.title}\n\n${markdownTable(table)}`);
  return [
    `# raftkv vs etcd — ${setup.startedAt}`,
    '',
    `Machine: ${setup.machine}`,
    '',
    ...setup.lines.map((line) => `- ${line}`),
    '',
    sections.join('\n\n'),
    '',
    '## Notes',
    '',
    ...(notes.length > 0 ? notes.map((note) => `- ${note}`) : [`- ${nothingOdd}`]),
    '',
  ].join('\n');
}
