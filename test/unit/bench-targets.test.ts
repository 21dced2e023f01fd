// The report's targets: each judged on the run's rows as met, missed or not measured, and shown
// first in report.md and report.html.
import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../../bench/report.js';
import { renderHtml } from '../../bench/report-html.js';
import type { LoadRow, ResultRow } from '../../bench/result-row.js';
import { checkTargets, targetsSectionTitle } from '../../bench/targets.js';
import { failoverRow, loadRow } from './bench-rows.js';

const setup = { startedAt: '2026-11-27T00:00:00.000Z', machine: 'test machine', lines: ['a line'] };

/** A put or linearizable-get point at `opsPerSec` and `p99Ms`. */
function point(
  system: 'raftkv' | 'etcd',
  scenario: 'put' | 'get',
  concurrency: number,
  opsPerSec: number,
  p99Ms = 9,
): LoadRow {
  const row = loadRow(system, scenario, concurrency, opsPerSec * 10);
  if (scenario === 'get') row.params.consistency = 'linearizable';
  return { ...row, p99Ms };
}

/** Both systems at one point: raftkv at `over` times etcd's 1000 ops/s, p99 at `p99Over` times etcd's 10 ms. */
function pair(scenario: 'put' | 'get', concurrency: number, over: number, p99Over = 0.5): LoadRow[] {
  return [
    point('raftkv', scenario, concurrency, 1000 * over, 10 * p99Over),
    point('etcd', scenario, concurrency, 1000, 10),
  ];
}

const verdicts = (rows: readonly ResultRow[]) => checkTargets(rows).map((check) => check.verdict);

const everyTargetMet: ResultRow[] = [
  ...pair('put', 1, 1.1),
  ...pair('put', 64, 1.6),
  ...pair('put', 256, 1.5),
  ...pair('get', 1, 1.5),
  ...pair('get', 64, 2.5),
  failoverRow('raftkv', 'raftkv', 650),
  failoverRow('etcd', "etcd, raftkv's timeouts", 700),
  failoverRow('etcd', 'etcd defaults', 1200),
];

describe('bench targets', () => {
  it('are met when every point reaches its line, exactly on the line included', () => {
    expect(verdicts(everyTargetMet)).toEqual(['met', 'met', 'met', 'met', 'met']);
    const [writes, , , reads, failover] = checkTargets(everyTargetMet);
    expect(writes!.measured).toBe('64 clients: 1.60×, 256 clients: 1.50×');
    expect(reads!.measured).toBe('1 client: 1.50×, 64 clients: 2.50×');
    expect(failover!.measured).toBe(
      "raftkv: 650 ms; etcd, raftkv's timeouts: 700 ms; etcd defaults: 1200 ms",
    );
  });

  it('are missed when one point falls short, whatever the others do', () => {
    const withPoint = (replaced: LoadRow[]) =>
      everyTargetMet
        .filter(
          (row) =>
            !replaced.some(
              (other) =>
                other.scenario === row.scenario &&
                'concurrency' in row.params &&
                other.params.concurrency === row.params.concurrency,
            ),
        )
        .concat(replaced);
    expect(verdicts(withPoint(pair('put', 64, 1.49)))).toEqual(['missed', 'met', 'met', 'met', 'met']);
    expect(verdicts(withPoint(pair('put', 256, 1.6, 1.01)))).toEqual(['met', 'missed', 'met', 'met', 'met']);
    expect(verdicts(withPoint(pair('put', 1, 0.72)))).toEqual(['met', 'met', 'missed', 'met', 'met']);
    expect(verdicts(withPoint(pair('get', 1, 1.19)))).toEqual(['met', 'met', 'met', 'missed', 'met']);
  });

  it('judge failover on the median: under a second and below every etcd configuration', () => {
    const withFailover = (raftkvMs: number, etcdMs: number) => [
      ...others(),
      failoverRow('raftkv', 'raftkv', raftkvMs),
      failoverRow('etcd', "etcd, raftkv's timeouts", etcdMs),
    ];
    expect(verdicts(withFailover(900, 950))[4]).toBe('met');
    expect(verdicts(withFailover(1000, 3000))[4]).toBe('missed');
    expect(verdicts(withFailover(700, 690))[4]).toBe('missed');
  });

  it('are not measured when their points were not run or had no success, unless a measured one misses', () => {
    expect(verdicts([])).toEqual(Array(5).fill('not measured'));
    expect(checkTargets([])[0]!.measured).toBe('not run');

    const only64 = [...pair('put', 64, 2)];
    expect(checkTargets(only64)[0]).toMatchObject({
      measured: '64 clients: 2.00×, 256 clients: not run',
      verdict: 'not measured',
    });
    const etcdFailed = [
      ...pair('put', 64, 2),
      point('raftkv', 'put', 256, 3000),
      point('etcd', 'put', 256, 0),
    ];
    expect(checkTargets(etcdFailed)[0]).toMatchObject({
      measured: '64 clients: 2.00×, 256 clients: no result',
      verdict: 'not measured',
    });
    expect(checkTargets([...pair('put', 64, 1.2)])[0]!.verdict).toBe('missed');

    const noEtcdFailover = [...others(), failoverRow('raftkv', 'raftkv', 600)];
    expect(checkTargets(noEtcdFailover)[4]!.verdict).toBe('not measured');
    const failedTrials = [
      ...others(),
      failoverRow('raftkv', 'raftkv', 600, 0),
      failoverRow('etcd', 'etcd', 900),
    ];
    expect(checkTargets(failedTrials)[4]).toMatchObject({ verdict: 'not measured' });
    expect(checkTargets(failedTrials)[4]!.measured).toContain('raftkv: no result');
  });

  it('open report.md and report.html, before the first scenario, with the count of each verdict', () => {
    const rows = [...pair('put', 64, 1.2), ...pair('put', 256, 1.7)];
    const markdown = renderMarkdown(rows, setup, []);
    const targetsAt = markdown.indexOf(`## ${targetsSectionTitle}`);
    expect(targetsAt).toBeGreaterThan(0);
    expect(targetsAt).toBeLessThan(markdown.indexOf('## put'));
    expect(markdown).toContain('1 met, 1 missed, 3 not measured');
    expect(markdown).toMatch(
      /\| writes: ops\/s at least 1\.5× etcd's at 64 and 256 clients \| 64 clients: 1\.20×, 256 clients: 1\.70× \| missed \|/,
    );

    const html = renderHtml(rows, setup, []);
    const htmlTargetsAt = html.indexOf(`<h2>${targetsSectionTitle}</h2>`);
    expect(htmlTargetsAt).toBeGreaterThan(0);
    expect(htmlTargetsAt).toBeLessThan(html.indexOf('<h2>put</h2>'));
    expect(html).toContain('<td>missed</td>');
  });
});

/** Every point of everyTargetMet but its failovers. */
function others(): ResultRow[] {
  return everyTargetMet.filter((row) => row.scenario !== 'failover');
}
