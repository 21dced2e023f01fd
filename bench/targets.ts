// The targets raftkv is built to meet on this machine (the bench issue's goals), checked against
// one run: each report opens with which of them the run met, which it missed, and which it did
// not measure, so no one has to read the ratios off the tables to know where raftkv stands.
import { fixed, ratio } from './format.js';
import type { ReportSection } from './report.js';
import { type FailoverRow, isLoadRow, type LoadRow, type ResultRow } from './result-row.js';

export type Verdict = 'met' | 'missed' | 'not measured';

/** One target and what a run measured for it. */
export interface TargetCheck {
  target: string;
  measured: string;
  verdict: Verdict;
}

/** Writes against etcd's under load: ops/s at least this many times etcd's. */
export const writeRatioMin = 1.5;
/** Linearizable reads against etcd's: ops/s at least this many times etcd's, at every concurrency run. */
export const readRatioMin = 1.5;
/** Failover: the median time to the first write after a leader's SIGKILL, below this. */
export const failoverP50MsMax = 1000;
const loadedConcurrencies = [64, 256];

/** A load point on both systems; a side not run, or without a single success, is undefined. */
interface Pair {
  concurrency: number;
  /** Whether the run had this point at all (for either system). */
  run: boolean;
  raftkv: LoadRow | undefined;
  etcd: LoadRow | undefined;
}

function pairs(
  rows: readonly ResultRow[],
  scenario: LoadRow['scenario'],
  consistency: string | undefined,
  concurrencies?: readonly number[],
): Pair[] {
  const loadRows = rows.filter(
    (row): row is LoadRow =>
      isLoadRow(row) && row.scenario === scenario && row.params.consistency === consistency,
  );
  const wanted =
    concurrencies ?? [...new Set(loadRows.map((row) => row.params.concurrency))].sort((a, b) => a - b);
  const measured = (system: LoadRow['system'], concurrency: number) =>
    loadRows.find((row) => row.system === system && row.params.concurrency === concurrency && row.ops > 0);
  return wanted.map((concurrency) => ({
    concurrency,
    run: loadRows.some((row) => row.params.concurrency === concurrency),
    raftkv: measured('raftkv', concurrency),
    etcd: measured('etcd', concurrency),
  }));
}

/**
 * Judges raftkv against etcd at each pair: `value` picks the number compared, `holds` says whether
 * raftkv's ÷ etcd's meets the target. Missed as soon as one measured pair misses; met once every
 * pair is measured and meets it; otherwise not measured.
 */
function judgePairs(
  target: string,
  found: readonly Pair[],
  value: (row: LoadRow) => number,
  holds: (raftkvOverEtcd: number) => boolean,
): TargetCheck {
  if (!found.some((pair) => pair.run)) return { target, measured: 'not run', verdict: 'not measured' };
  let missed = false;
  let unmeasured = false;
  const parts = found.map(({ concurrency, run, raftkv, etcd }) => {
    const clients = `${concurrency} client${concurrency === 1 ? '' : 's'}`;
    if (raftkv === undefined || etcd === undefined) {
      unmeasured = true;
      return `${clients}: ${run ? 'no result' : 'not run'}`;
    }
    if (!holds(value(raftkv) / value(etcd))) missed = true;
    return `${clients}: ${ratio(value(raftkv), value(etcd))}`;
  });
  const verdict = missed ? 'missed' : unmeasured ? 'not measured' : 'met';
  return { target, measured: parts.join(', '), verdict };
}

function failoverCheck(rows: readonly ResultRow[]): TargetCheck {
  const target = `failover: median time to the first write after the leader's SIGKILL under ${failoverP50MsMax} ms, and below etcd's`;
  const failovers = rows.filter((row): row is FailoverRow => row.scenario === 'failover');
  const raftkv = failovers.find((row) => row.system === 'raftkv');
  const etcds = failovers.filter((row) => row.system === 'etcd');
  if (raftkv === undefined || etcds.length === 0)
    return { target, measured: 'not run', verdict: 'not measured' };
  const p50 = (row: FailoverRow) => (row.ops > 0 ? `${fixed(row.p50Ms, 0)} ms` : 'no result');
  const measured = [raftkv, ...etcds].map((row) => `${row.extra.label}: ${p50(row)}`).join('; ');
  if (raftkv.ops === 0 || etcds.some((row) => row.ops === 0))
    return { target, measured, verdict: 'not measured' };
  const met = raftkv.p50Ms < failoverP50MsMax && etcds.every((row) => raftkv.p50Ms < row.p50Ms);
  return { target, measured, verdict: met ? 'met' : 'missed' };
}

/** Every target, judged on the run's rows (with --rounds, each row's median window). */
export function checkTargets(rows: readonly ResultRow[]): TargetCheck[] {
  const writes = pairs(rows, 'put', undefined, loadedConcurrencies);
  return [
    judgePairs(
      `writes: ops/s at least ${writeRatioMin}× etcd's at ${loadedConcurrencies.join(' and ')} clients`,
      writes,
      (row) => row.opsPerSec,
      (over) => over >= writeRatioMin,
    ),
    judgePairs(
      `writes: p99 no worse than etcd's at ${loadedConcurrencies.join(' and ')} clients`,
      writes,
      (row) => row.p99Ms,
      (over) => over <= 1,
    ),
    judgePairs(
      "writes at one client (fsync-bound): ops/s no lower than etcd's",
      pairs(rows, 'put', undefined, [1]),
      (row) => row.opsPerSec,
      (over) => over >= 1,
    ),
    judgePairs(
      `linearizable reads: ops/s at least ${readRatioMin}× etcd's at every concurrency run`,
      pairs(rows, 'get', 'linearizable'),
      (row) => row.opsPerSec,
      (over) => over >= readRatioMin,
    ),
    failoverCheck(rows),
  ];
}

export const targetsSectionTitle = 'Targets';

/** The targets as the report's first section: what this run measured for each, and the verdict. */
export function targetsSection(rows: readonly ResultRow[]): ReportSection {
  const checks = checkTargets(rows);
  const count = (verdict: Verdict) => checks.filter((check) => check.verdict === verdict).length;
  return {
    title: targetsSectionTitle,
    intro:
      `What raftkv is built to reach on this machine, judged on this run's rows (ratios are raftkv ÷ etcd; ` +
      `with several rounds, each row's median window): ${count('met')} met, ${count('missed')} missed, ` +
      `${count('not measured')} not measured. A ratio near its line can fall either side on a busy host: ` +
      "the tables show each point's spread over its rounds.",
    tables: [
      {
        table: {
          header: ['target', 'this run', 'verdict'],
          cells: checks.map((check) => [check.target, check.measured, check.verdict]),
        },
      },
    ],
  };
}
