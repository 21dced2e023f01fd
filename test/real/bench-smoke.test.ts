// `raftkv bench --quick` end to end through the built binary: both clusters start, both systems
// get rows with finite numbers, the reports are written. No speed assertions (design.md §9:
// speed claims live in bench/ only). etcd is required: without it this test fails, never skips.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { etcdInstallCommand, findEtcdBinary } from '../../bench/etcd-cluster.js';
import type { ResultRow } from '../../bench/result-row.js';

const cliPath = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
/** Two concurrencies x six ways of writing x ~2 s each, plus starting and stopping ten processes. */
const benchDeadlineMs = 240_000;

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

describe('raftkv bench --quick', () => {
  let outDir: string | undefined;

  afterEach(async () => {
    if (outDir) await rm(outDir, { recursive: true, force: true });
    outDir = undefined;
  });

  it(
    'writes results.json, report.md and report.html with raftkv and etcd side by side',
    async () => {
      if (!findEtcdBinary()) {
        throw new Error(
          `etcd is not installed, and the bench smoke test compares against it. Install it with\n  ${etcdInstallCommand}\n(as root, or with sudo)`,
        );
      }
      if (!existsSync(cliPath))
        throw new Error(`${cliPath} is missing: build first (npx tsc -p tsconfig.json)`);
      outDir = await mkdtemp(join(tmpdir(), 'raftkv-bench-smoke-'));
      const run = await runCli(['bench', '--quick', '--scenario', 'put', '--duration', '1', '--out', outDir]);
      expect(run.code, `raftkv bench failed:\n${run.stderr}`).toBe(0);

      const rows = JSON.parse(await readFile(join(outDir, 'results.json'), 'utf8')) as ResultRow[];
      expect(new Set(rows.map((row) => row.system))).toEqual(new Set(['raftkv', 'etcd']));
      for (const row of rows) {
        expect(row.scenario).toBe('put');
        for (const field of numericFields)
          expect(Number.isFinite(row[field]), `${row.system} ${field}`).toBe(true);
        expect(row.ops, `${row.system} at concurrency ${row.params.concurrency}`).toBeGreaterThan(0);
        expect(Number.isFinite(row.extra.loadgenCpuSec)).toBe(true);
      }
      expect(rows.map((row) => row.params.concurrency).sort((a, b) => a - b)).toEqual([16, 16, 64, 64]);

      const markdown = await readFile(join(outDir, 'report.md'), 'utf8');
      expect(markdown).toContain('## put');
      const html = await readFile(join(outDir, 'report.html'), 'utf8');
      expect(html).toContain('<svg');
      expect(html).not.toMatch(/<script/i);
    },
    benchDeadlineMs,
  );
});
