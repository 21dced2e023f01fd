// `raftkv bench --quick` end to end through the built binary: both clusters start, both systems
// get rows with finite numbers, the reports are written (with two rounds per point and the
// profiles of every raftkv node). No speed assertions (design.md §9: speed claims live in bench/
// only). etcd is required: without it this test fails, never skips.
// Failover has its own short run (2 trials): inside --quick it would add well over 40 s.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { etcdInstallCommand, findEtcdBinary } from '../../bench/etcd-cluster.js';
import type { FailoverRow, LoadRow, RestartRow } from '../../bench/result-row.js';
import { cliPath } from '../support/cli.js';

/** Two concurrencies x (six ways of writing + a second round of each system) x ~2 s each, plus starting and stopping ten processes. */
const benchDeadlineMs = 240_000;
/** Three series of 2 kills (~5 s each on a quiet machine), plus starting and stopping fifteen processes. */
const failoverDeadlineMs = 240_000;
/** One cas point (six ways), two fills of a few thousand writes and four restarts. */
const casRestartDeadlineMs = 240_000;
/** Writes that load the log before the restarts: enough to cross a few LevelDB memtables, quick to write. */
const smokeRestartEntries = 3_000;

interface RunOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[]): Promise<RunOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const numericFields = ['ops', 'opsPerSec', 'p50Ms', 'p99Ms', 'p999Ms', 'errors', 'cpuSec'] as const;

function requireEtcdAndBuild(): void {
  if (!findEtcdBinary()) {
    throw new Error(
      `etcd is not installed, and the bench smoke test compares against it. Install it with\n  ${etcdInstallCommand}\n(as root, or with sudo)`,
    );
  }
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: build first (npx tsc -p tsconfig.json)`);
}

describe('raftkv bench --quick', () => {
  let outDir: string | undefined;

  afterEach(async () => {
    if (outDir) await rm(outDir, { recursive: true, force: true });
    outDir = undefined;
  });

  it(
    'writes results.json, report.md and report.html with raftkv and etcd side by side',
    async () => {
      requireEtcdAndBuild();
      outDir = await mkdtemp(join(tmpdir(), 'raftkv-bench-smoke-'));
      const run = await runCli([
        'bench',
        '--quick',
        '--scenario',
        'put',
        '--duration',
        '1',
        '--rounds',
        '2',
        '--profile',
        '--out',
        outDir,
      ]);
      expect(run.code, `raftkv bench failed:\n${run.stderr}`).toBe(0);
      // Both systems were warmed up, unmeasured, before the first point.
      expect(run.stderr).toMatch(/warm-up raftkv: \d+ ops\/s/);
      expect(run.stderr).toMatch(/warm-up etcd: \d+ ops\/s/);

      const rows = JSON.parse(await readFile(join(outDir, 'results.json'), 'utf8')) as LoadRow[];
      expect(new Set(rows.map((row) => row.system))).toEqual(new Set(['raftkv', 'etcd']));
      for (const row of rows) {
        expect(row.scenario).toBe('put');
        for (const field of numericFields)
          expect(Number.isFinite(row[field]), `${row.system} ${field}`).toBe(true);
        expect(row.ops, `${row.system} at concurrency ${row.params.concurrency}`).toBeGreaterThan(0);
        expect(Number.isFinite(row.extra.loadgenCpuSec)).toBe(true);
        // The best way's two windows; the row is the worse one (the median of two).
        const rates = row.extra.rounds!.map((round) => round.opsPerSec);
        expect(rates).toHaveLength(2);
        expect(row.opsPerSec).toBe(Math.min(...rates));
      }
      expect(rows.map((row) => row.params.concurrency).sort((a, b) => a - b)).toEqual([16, 16, 64, 64]);

      const markdown = await readFile(join(outDir, 'report.md'), 'utf8');
      expect(markdown).toContain('## put');
      expect(markdown).toContain('ops/s of the 2 rounds, min–max (raftkv / etcd)');
      // The targets open the report: a quick run has 64 clients, not 256, and no failover or reads.
      expect(markdown.indexOf('## Targets')).toBeLessThan(markdown.indexOf('## put'));
      expect(markdown).toMatch(
        /\| writes: ops\/s at least 1\.5× etcd's at 64 and 256 clients \| 64 clients: \d+\.\d\d×, 256 clients: not run \| (missed|not measured) \|/,
      );
      expect(markdown).toMatch(/\| failover: .* \| not run \| not measured \|/);
      // --profile: every node wrote a profile when stopped, and the report sums them up, leader first.
      for (const id of [1, 2, 3, 4, 5]) {
        const files = await readdir(join(outDir, 'profiles', `n${id}`));
        expect(
          files.filter((file) => file.endsWith('.cpuprofile')),
          `n${id}`,
        ).toHaveLength(1);
      }
      expect(markdown).toContain('## where raftkv spent its time (profiles)');
      expect(markdown).toMatch(/\| part of the stack \| n\d \(leader\) \| n\d \(follower\) \|/);
      expect(markdown).toMatch(/\| HTTP routes \| \d+\.\d% \|/);
      const html = await readFile(join(outDir, 'report.html'), 'utf8');
      expect(html).toContain('<svg');
      expect(html).toContain('<h2>where raftkv spent its time (profiles)</h2>');
      expect(html).not.toMatch(/<script/i);
    },
    benchDeadlineMs,
  );

  it(
    'measures failover for raftkv, etcd with raftkv timeouts and etcd defaults',
    async () => {
      requireEtcdAndBuild();
      outDir = await mkdtemp(join(tmpdir(), 'raftkv-bench-smoke-'));
      const run = await runCli([
        'bench',
        '--scenario',
        'failover',
        '--failover-trials',
        '2',
        '--out',
        outDir,
      ]);
      expect(run.code, `raftkv bench failed:\n${run.stderr}`).toBe(0);

      const rows = JSON.parse(await readFile(join(outDir, 'results.json'), 'utf8')) as FailoverRow[];
      expect(rows.map((row) => [row.system, row.params.electionTimeoutMs])).toEqual([
        ['raftkv', 500],
        ['etcd', 500],
        ['etcd', 1000],
      ]);
      for (const row of rows) {
        expect(row.scenario).toBe('failover');
        expect(row.params.trials).toBe(2);
        expect(row.ops + row.errors, row.extra.label).toBe(2);
        expect(row.ops, `${row.extra.label}: ${row.extra.failure ?? ''}`).toBeGreaterThan(0);
        for (const value of [row.p50Ms, row.p99Ms, row.p999Ms, ...row.extra.trialsMs])
          expect(Number.isFinite(value) && value > 0, row.extra.label).toBe(true);
        expect(Number.isInteger(row.extra.spuriousElections)).toBe(true);
      }
      expect(await readFile(join(outDir, 'report.md'), 'utf8')).toContain('## failover');
      expect(await readFile(join(outDir, 'report.html'), 'utf8')).toContain('<h2>failover</h2>');
    },
    failoverDeadlineMs,
  );

  it(
    'measures compare-and-set on one key and restarts on a loaded log for both systems',
    async () => {
      requireEtcdAndBuild();
      outDir = await mkdtemp(join(tmpdir(), 'raftkv-bench-smoke-'));
      const run = await runCli([
        'bench',
        '--quick',
        '--scenario',
        'restart,cas',
        '--concurrency',
        '16',
        '--duration',
        '1',
        '--restart-entries',
        String(smokeRestartEntries),
        '--restart-trials',
        '2',
        '--out',
        outDir,
      ]);
      expect(run.code, `raftkv bench failed:\n${run.stderr}`).toBe(0);

      const rows = JSON.parse(await readFile(join(outDir, 'results.json'), 'utf8')) as (
        | LoadRow
        | RestartRow
      )[];
      // The scenarios run in their fixed order whatever the order asked: load points before restarts.
      expect(rows.map((row) => [row.scenario, row.system])).toEqual([
        ['cas', 'raftkv'],
        ['cas', 'etcd'],
        ['restart', 'raftkv'],
        ['restart', 'etcd'],
      ]);
      for (const row of rows.filter((r): r is LoadRow => r.scenario === 'cas')) {
        expect(row.ops, row.system).toBeGreaterThan(0);
        expect(row.errors, `${row.system}: ${JSON.stringify(row.extra.errorKinds)}`).toBe(0);
        // 16 clients on one key: some attempts swap and some are refused.
        const conflicts = row.extra.conflicts ?? -1;
        expect(conflicts, row.system).toBeGreaterThan(0);
        expect(conflicts, row.system).toBeLessThan(row.ops);
        expect(row.extra.latencyPercentilesMs.map(([p]) => p)).toContain(99.9);
      }
      for (const row of rows.filter((r): r is RestartRow => r.scenario === 'restart')) {
        expect(row.extra.fillOps, row.system).toBe(smokeRestartEntries);
        expect(row.ops, `${row.system}: ${row.extra.failure ?? ''}`).toBe(2);
        expect(row.extra.trialsMs).toHaveLength(2);
        for (const ms of row.extra.trialsMs) expect(Number.isFinite(ms) && ms > 0, row.system).toBe(true);
        expect(row.extra.appliedIndex, row.system).toBeGreaterThanOrEqual(smokeRestartEntries);
        expect(row.extra.dataBytes, row.system).toBeGreaterThan(0);
      }
      const markdown = await readFile(join(outDir, 'report.md'), 'utf8');
      expect(markdown).toContain('## cas (compare-and-set, every client on one key)');
      expect(markdown).toContain('## restart');
      const html = await readFile(join(outDir, 'report.html'), 'utf8');
      expect(html).toContain('latency (ms) by percentile, 16 clients');
      expect(html).toContain('<h2>restart</h2>');
    },
    casRestartDeadlineMs,
  );
});
