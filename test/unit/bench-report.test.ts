// The bench's flags and reports, without running anything: which scenarios a flag asks for, and
// what report.md and report.html show for load, cas, failover and restart rows.
import { describe, expect, it } from 'vitest';
import { hostProbeCpuMs } from '../../bench/cpu.js';
import { parseBenchOptions } from '../../bench/options.js';
import { renderMarkdown, restartTable, runNotes, scenarioTables } from '../../bench/report.js';
import { renderHtml } from '../../bench/report-html.js';
import type { ResultRow } from '../../bench/result-row.js';
import { medianWindow } from '../../bench/scenarios.js';
import { UsageError } from '../../src/cli-args.js';
import { loadRow, restartRow } from './bench-rows.js';

const setup = { startedAt: '2026-11-27T00:00:00.000Z', machine: 'test machine', lines: ['a line'] };

describe('bench flags', () => {
  it('runs the scenarios asked in their fixed order, and all of them for all', () => {
    expect(parseBenchOptions(['--scenario', 'restart,put']).scenarios).toEqual(['put', 'restart']);
    expect(parseBenchOptions(['--scenario', 'cas']).scenarios).toEqual(['cas']);
    expect(parseBenchOptions([]).scenarios).toEqual(['put', 'get', 'cas', 'failover', 'restart']);
  });

  it('refuses unknown scenarios and bad restart counts', () => {
    expect(() => parseBenchOptions(['--scenario', 'put,bogus'])).toThrow(UsageError);
    expect(() => parseBenchOptions(['--restart-entries', '0'])).toThrow(UsageError);
    expect(() => parseBenchOptions(['--restart-trials', 'x'])).toThrow(UsageError);
  });

  it('takes three rounds per point by default, one with --quick, and refuses rounds out of range', () => {
    expect(parseBenchOptions([]).rounds).toBe(3);
    expect(parseBenchOptions(['--quick']).rounds).toBe(1);
    expect(parseBenchOptions(['--quick', '--rounds', '5']).rounds).toBe(5);
    for (const bad of ['0', '16', '2.5', 'x']) {
      expect(() => parseBenchOptions(['--rounds', bad]), bad).toThrow(UsageError);
    }
  });

  it('restarts on a million entries by default and on a few thousand with --quick', () => {
    expect(parseBenchOptions([])).toMatchObject({ restartEntries: 1_000_000, restartTrials: 3 });
    expect(parseBenchOptions(['--quick']).restartEntries).toBeLessThan(10_000);
    expect(parseBenchOptions(['--quick', '--restart-entries', '42']).restartEntries).toBe(42);
  });
});

describe('the host probe', () => {
  it('reports the CPU milliseconds its loop took: more steps, more time', () => {
    const short = hostProbeCpuMs(1_000);
    const long = hostProbeCpuMs(20_000_000);
    expect(Number.isFinite(long) && long > 0).toBe(true);
    expect(long).toBeGreaterThan(short);
  });
});

describe('the median window of a point', () => {
  const moreOps = (a: number, b: number) => a > b;

  it('is the middle one ranked best first, and of an even count the worse middle one', () => {
    expect(medianWindow([300, 100, 200], moreOps)).toBe(200);
    expect(medianWindow([400, 100, 300, 200], moreOps)).toBe(200);
    expect(medianWindow([100, 300], moreOps)).toBe(100);
    expect(medianWindow([700], moreOps)).toBe(700);
  });

  it('ranks by whatever "better" is: a lower p99 in an open loop', () => {
    expect(medianWindow([9, 3, 5, 20, 4], (a, b) => a < b)).toBe(5);
  });
});

describe('bench report', () => {
  const rows: ResultRow[] = [
    loadRow('raftkv', 'put', 16, 30_000),
    loadRow('etcd', 'put', 16, 20_000),
    loadRow('raftkv', 'cas', 16, 10_000, 9_000),
    loadRow('etcd', 'cas', 16, 8_000, 7_600),
    restartRow('raftkv', [900, 1100, 1000], 1000),
    restartRow('etcd', [400, 600], 900),
  ];

  it('gives cas its own table, with swaps per second beside the attempts', () => {
    const cas = scenarioTables(rows).find((table) => table.title.startsWith('cas'))!;
    expect(cas.header.at(-1)).toBe('swaps/s (raftkv / etcd)');
    // (10000 - 9000) / 10 s and (8000 - 7600) / 10 s.
    expect(cas.cells[0]!.at(-1)).toBe('100 / 40');
    expect(cas.cells[0]![3]).toBe('1.25×');
    const put = scenarioTables(rows).find((table) => table.title === 'put')!;
    expect(put.header).not.toContain('swaps/s (raftkv / etcd)');
    expect(put.header[4]).toBe('raftkv p50 / p99 / p99.9 ms');
    expect(put.cells[0]![4]).toBe('2.00 / 9.00 / 12.0');
  });

  it("shows a row's spread over its rounds in a last column, and a failed later round in the notes", () => {
    const rounds = (rates: number[]) => rates.map((opsPerSec) => ({ opsPerSec, p99Ms: 9, errors: 0 }));
    const raftkv = loadRow('raftkv', 'put', 64, 30_000);
    raftkv.extra.rounds = rounds([3_100, 3_000, 2_800]);
    const etcd = loadRow('etcd', 'put', 64, 20_000);
    etcd.extra.rounds = [
      ...rounds([2_500, 2_000]),
      { opsPerSec: 0, p99Ms: 0, errors: 0, failure: 'no leader' },
    ];
    const [put] = scenarioTables([raftkv, etcd]);
    expect(put!.header.at(-1)).toBe('ops/s of the 3 rounds, min–max (raftkv / etcd)');
    expect(put!.cells[0]!.at(-1)).toBe('2800–3100 / 0–2500');
    expect(runNotes([raftkv, etcd], 2)).toEqual(['etcd put c=64: round 3: no leader']);
    // One round each: no spread column.
    expect(scenarioTables(rows)[0]!.header.at(-1)).toBe('via');
  });

  it('tables restarts with raftkv against each system, and calls out short fills and failed trials', () => {
    const table = restartTable(rows)!;
    expect(table.cells).toEqual([
      ['raftkv', '1234', '5', '3 (0)', '1000', '1100', '—', '500'],
      ['etcd defaults', '1234', '5', '3 (1)', '400', '600', '2.50×', '450'],
    ]);
    const notes = runNotes(rows, 2);
    expect(notes).toContainEqual(
      expect.stringMatching(/^etcd restart \(etcd defaults\): stopped after 2 of 3/),
    );
    expect(notes).toContainEqual(expect.stringContaining('only 900 of 1000 writes loaded the log'));
    expect(notes.some((note) => note.startsWith('raftkv restart'))).toBe(false);
  });

  it('writes every section to report.md, and the latency distribution per concurrency to report.html', () => {
    const markdown = renderMarkdown(rows, setup, runNotes(rows, 2));
    for (const heading of ['## put', '## cas (compare-and-set, every client on one key)', '## restart'])
      expect(markdown).toContain(heading);
    const html = renderHtml(rows, setup, []);
    expect(html.match(/latency \(ms\) by percentile, 16 clients/g)).toHaveLength(2);
    expect(html).toContain('<h2>restart</h2>');
    // The CDF's x axis is the evenly spaced nines, then the slowest request.
    for (const label of ['p50', 'p99.9', 'p99.99', 'max']) expect(html).toContain(`>${label}</text>`);
    // raftkv's p99.99 in the fixture: 1 × (1 + 99.99 / 10).
    expect(html).toContain('raftkv: 11.00');
  });
});
