// results.json -> the side-by-side tables (one per scenario and read level, one of failover
// times, one of restart times), the notes on anything odd in the run, and report.md.
// report-html.ts draws the same tables with charts.
import { fixed, ratio } from './format.js';
import type { SystemName } from './loadgen-protocol.js';
import {
  type FailoverRow,
  isLoadRow,
  type LatencyPoint,
  type LoadRow,
  type RestartRow,
  type ResultRow,
} from './result-row.js';
import { targetsSection } from './targets.js';

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
  /** Per concurrency, the latency distribution (empty when nothing succeeded). */
  latencyPercentilesMs: LatencyPoint[][];
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

const opsPerCpuSec = (row: LoadRow | undefined) =>
  row === undefined ? undefined : row.cpuSec > 0 ? row.ops / row.cpuSec : Number.POSITIVE_INFINITY;

/** A row without a single success has no latency to show. */
const p99Of = (row: LoadRow | undefined) => (row && row.ops > 0 ? row.p99Ms : undefined);
const latencies = (row: LoadRow | undefined) =>
  row && row.ops > 0 ? `${fixed(row.p50Ms, 2)} / ${fixed(row.p99Ms, 2)} / ${fixed(row.p999Ms, 1)}` : '—';

export function rowLabel(row: ResultRow): string {
  if (!isLoadRow(row)) return `${row.scenario} (${row.extra.label})`;
  const level = row.params.consistency ? `/${row.params.consistency}` : '';
  return `${row.scenario}${level} c=${row.params.concurrency}`;
}

function tableTitle(row: LoadRow): string {
  if (row.scenario === 'cas') return 'cas (compare-and-set, every client on one key)';
  return row.params.consistency ? `${row.scenario} (${row.params.consistency} reads)` : row.scenario;
}

/** cas: attempts that swapped, per second (the rest were refused: another client's swap came first). */
const swapsPerSec = (row: LoadRow) => (row.ops - (row.extra.conflicts ?? 0)) / row.params.durationSec;

/** A row's ops/s over its rounds, slowest to fastest; its one value when it had one round. */
function roundsSpread(row: LoadRow): string {
  const rates = (row.extra.rounds ?? [{ opsPerSec: row.opsPerSec }]).map((round) => round.opsPerSec);
  const [low, high] = [Math.min(...rates), Math.max(...rates)];
  return low === high ? fixed(low, 0) : `${fixed(low, 0)}–${fixed(high, 0)}`;
}

const roundsOf = (row: LoadRow) => row.extra.rounds?.length ?? 1;

function tableRow(
  concurrency: number,
  raftkv: LoadRow | undefined,
  etcd: LoadRow | undefined,
  cas: boolean,
  rounds: boolean,
): string[] {
  const both = (pick: (row: LoadRow) => string) =>
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
    ...(cas ? [both((row) => fixed(swapsPerSec(row), 0))] : []),
    ...(rounds ? [both(roundsSpread)] : []),
  ];
}

const header = [
  'clients',
  'raftkv ops/s',
  'etcd ops/s',
  'ops/s raftkv÷etcd',
  'raftkv p50 / p99 / p99.9 ms',
  'etcd p50 / p99 / p99.9 ms',
  'p99 raftkv÷etcd',
  'ops per server CPU-s (raftkv / etcd)',
  'server CPU s',
  'load generator CPU s',
  'errors',
  'via',
];
const casHeader = [...header, 'swaps/s (raftkv / etcd)'];

/** One table per scenario and read level, rows by concurrency, raftkv and etcd side by side. */
export function scenarioTables(allRows: readonly ResultRow[]): ScenarioTable[] {
  const rows = allRows.filter(isLoadRow);
  const titles = [...new Set(rows.map(tableTitle))];
  return titles.map((title) => {
    const group = rows.filter((row) => tableTitle(row) === title);
    const concurrencies = [...new Set(group.map((row) => row.params.concurrency))].sort((a, b) => a - b);
    const find = (system: SystemName, concurrency: number) =>
      group.find((row) => row.system === system && row.params.concurrency === concurrency);
    const systems = [...new Set(group.map((row) => row.system))];
    const cas = group[0]!.scenario === 'cas';
    const rounds = Math.max(...group.map(roundsOf));
    return {
      title,
      concurrencies,
      header: [
        ...(cas ? casHeader : header),
        ...(rounds > 1 ? [`ops/s of the ${rounds} rounds, min–max (raftkv / etcd)`] : []),
      ],
      cells: concurrencies.map((c) => tableRow(c, find('raftkv', c), find('etcd', c), cas, rounds > 1)),
      series: systems.map((system) => ({
        system,
        opsPerSec: concurrencies.map((c) => find(system, c)?.opsPerSec),
        p99Ms: concurrencies.map((c) => p99Of(find(system, c))),
        latencyPercentilesMs: concurrencies.map((c) => find(system, c)?.extra.latencyPercentilesMs ?? []),
      })),
    };
  });
}

/** What is odd about one row: errors, a saturated process, outside load, a saturated machine. */
function rowFindings(row: LoadRow, cores: number): string[] {
  const windowSec = row.params.durationSec;
  const percentOfCore = (cpuSec: number) => `${fixed((100 * cpuSec) / windowSec, 0)}% of a core`;
  const findings: string[] = [];
  if (row.extra.failure) findings.push(row.extra.failure);
  else {
    for (const variant of row.extra.variants.filter((v) => v.failure))
      findings.push(`${variant.client}→${variant.targets} ${variant.failure}`);
    (row.extra.rounds ?? []).forEach((round, at) => {
      if (at > 0 && round.failure) findings.push(`round ${at + 1}: ${round.failure}`);
    });
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
    const findings = isLoadRow(row)
      ? rowFindings(row, cores)
      : row.scenario === 'failover'
        ? failoverFindings(row)
        : restartFindings(row);
    return findings.length > 0 ? [`${row.system} ${rowLabel(row)}: ${findings.join('; ')}`] : [];
  });
}

function failoverFindings(row: FailoverRow): string[] {
  const findings: string[] = [];
  if (row.extra.failure) findings.push(row.extra.failure);
  if (row.errors > 0)
    findings.push(`${row.errors} of ${row.params.trials} trials without a measured failover time`);
  if (row.extra.spuriousElections > 0)
    findings.push(
      `${row.extra.spuriousElections} spurious elections (term increments) in ${fixed(row.extra.steadySec, 0)} s of steady load without kills`,
    );
  return findings;
}

function restartFindings(row: RestartRow): string[] {
  const findings: string[] = [];
  if (row.extra.failure) findings.push(row.extra.failure);
  if (row.extra.fillOps < row.params.entries)
    findings.push(`only ${row.extra.fillOps} of ${row.params.entries} writes loaded the log`);
  return findings;
}

/** A table without charts (failover, restart). */
export interface PlainTable {
  header: string[];
  cells: string[][];
}

/** A section of its own (the targets first, the profiles after the scenarios' tables): an intro, then titled tables. */
export interface ReportSection {
  title: string;
  intro: string;
  tables: { title?: string; table: PlainTable }[];
}

const failoverHeader = [
  'system',
  'heartbeat / election timeout ms',
  'trials (failed)',
  'p50 ms',
  'p99 ms',
  'max ms',
  'p50 / p99 / max raftkv÷this',
  'new leader seen p50 ms',
  'spurious elections',
];

/** The failover table: one row per system and timing, raftkv's times against each. */
export function failoverTable(rows: readonly ResultRow[]): PlainTable | undefined {
  const failovers = rows.filter((row): row is FailoverRow => row.scenario === 'failover');
  if (failovers.length === 0) return undefined;
  const raftkv = failovers.find((row) => row.system === 'raftkv');
  const times = (row: FailoverRow | undefined) =>
    row && row.ops > 0 ? [row.p50Ms, row.p99Ms, row.p999Ms] : undefined;
  const cells = failovers.map((row) => {
    const own = times(row);
    const base = times(raftkv);
    const newLeader = [...row.extra.newLeaderMs].sort((a, b) => a - b);
    return [
      row.extra.label,
      `${row.params.heartbeatMs} / ${row.params.electionTimeoutMs}`,
      `${row.params.trials} (${row.errors})`,
      ...(own ?? [Number.NaN, Number.NaN, Number.NaN]).map((ms) => fixed(ms, 0)),
      row === raftkv ? '—' : [0, 1, 2].map((i) => ratio(base?.[i], own?.[i])).join(' / '),
      newLeader.length > 0 ? fixed(newLeader[Math.ceil(newLeader.length / 2) - 1]!, 0) : '—',
      `${row.extra.spuriousElections} in ${fixed(row.extra.steadySec, 0)} s`,
    ];
  });
  return { header: failoverHeader, cells };
}

export const failoverIntro =
  'Time from the SIGKILL of the leader to the first successful write sent after it, under ' +
  'a closed-loop write load spread over all members (etcd through its JSON gateway, the same HTTP client as raftkv); ' +
  'the killed member is restarted and the cluster caught up before the next trial. ' +
  'etcd draws its election timeouts in [timeout, 2 × timeout); a raftkv follower of a known leader waits the timeout, ' +
  'plus one stagger per voter ranked before it (docs/operations.md), and draws in that range only without a leader. ' +
  "etcd is run once with raftkv's timeouts, once with its defaults.";

export const restartIntro =
  'A long log first: distinct-key writes, one log entry each, closed loop over all members. Then one follower is ' +
  'killed (SIGKILL) and started again on its data directory; the time is from the spawn to its first ready answer. ' +
  'raftkv has no snapshots yet, so it reloads its whole log; etcd restarts from its latest snapshot (every 100 000 entries by default).';

const restartHeader = [
  'system',
  'log entries (applied index)',
  'data dir MB',
  'trials (failed)',
  'ready p50 ms',
  'ready max ms',
  'p50 raftkv÷this',
  'fill writes/s',
];

/** The restart table: one row per system. */
export function restartTable(rows: readonly ResultRow[]): PlainTable | undefined {
  const restarts = rows.filter((row): row is RestartRow => row.scenario === 'restart');
  if (restarts.length === 0) return undefined;
  const raftkv = restarts.find((row) => row.system === 'raftkv');
  const p50 = (row: RestartRow | undefined) => (row && row.ops > 0 ? row.p50Ms : undefined);
  const cells = restarts.map((row) => [
    row.extra.label,
    String(row.extra.appliedIndex),
    fixed(row.extra.dataBytes / 1024 ** 2, 0),
    `${row.params.trials} (${row.errors})`,
    row.ops > 0 ? fixed(row.p50Ms, 0) : '—',
    row.ops > 0 ? fixed(row.p999Ms, 0) : '—',
    row === raftkv ? '—' : ratio(p50(raftkv), p50(row)),
    row.extra.fillSec > 0 ? fixed(row.extra.fillOps / row.extra.fillSec, 0) : '—',
  ]);
  return { header: restartHeader, cells };
}

function markdownTable(table: { header: string[]; cells: string[][] }): string {
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(table.header), line(table.header.map(() => '---')), ...table.cells.map(line)].join('\n');
}

function markdownSection(section: ReportSection): string {
  const tables = section.tables.map(({ title, table }) =>
    title === undefined ? markdownTable(table) : `### ${title}\n\n${markdownTable(table)}`,
  );
  return [`## ${section.title}`, section.intro, ...tables].join('\n\n');
}

export function renderMarkdown(
  rows: readonly ResultRow[],
  setup: RunSetup,
  notes: readonly string[],
  extraSections: readonly ReportSection[] = [],
): string {
  const sections = [
    markdownSection(targetsSection(rows)),
    ...scenarioTables(rows).map((table) => `## ${table.title}\n\n${markdownTable(table)}`),
  ];
  const failover = failoverTable(rows);
  if (failover) sections.push(`## failover\n\n${failoverIntro}\n\n${markdownTable(failover)}`);
  const restart = restartTable(rows);
  if (restart) sections.push(`## restart\n\n${restartIntro}\n\n${markdownTable(restart)}`);
  sections.push(...extraSections.map(markdownSection));
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
