// `raftkv jepsen` end to end through the built binary: short runs under faults must pass on the
// healthy build, and must fail (exit 1) on builds with a planted bug (docs/testing.md); the
// report of a run must render in headless Chromium. Each run starts and stops its own cluster.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CheckerResult } from '../../jepsen-lite/checkers/verdict.js';
import { launchChromium } from '../support/chromium.js';
import { cliPath } from '../support/cli.js';

/** A run of --time T takes T plus start-up, recovery, final reads and checking. */
const runOverheadMs = 60_000;
/** After SIGINT the run heals, checks and stops its nodes; then it is killed outright. */
const interruptGraceMs = 30_000;

interface JepsenRun {
  exitCode: number | null;
  output: string;
  runDir: string;
  results: { verdict: string; checkers: CheckerResult[] };
}

/** Runs `raftkv jepsen` with `args`; interrupts it if it outlives `timeS` by far. */
async function runJepsen(args: string[], timeS: number): Promise<JepsenRun> {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: build first (npx tsc -p tsconfig.json)`);
  const child = spawn(process.execPath, [cliPath, 'jepsen', '--time', String(timeS), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const interrupt = setTimeout(() => child.kill('SIGINT'), timeS * 1000 + runOverheadMs);
  const kill = setTimeout(() => child.kill('SIGKILL'), timeS * 1000 + runOverheadMs + interruptGraceMs);
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  }).finally(() => {
    clearTimeout(interrupt);
    clearTimeout(kill);
  });
  const reportPath = /^ {2}report {4}(.+)$/m.exec(output)?.[1];
  if (!reportPath) throw new Error(`raftkv jepsen printed no report path (exit ${exitCode}):\n${output}`);
  const runDir = join(reportPath, '..');
  const results = JSON.parse(await readFile(join(runDir, 'results.json'), 'utf8')) as JepsenRun['results'];
  return { exitCode, output, runDir, results };
}

/** Command-line words, written as one line. */
function words(line: string): string[] {
  return line.split(' ');
}

function failedCheckers(run: JepsenRun): string[] {
  return run.results.checkers.filter((checker) => checker.valid === false).map((checker) => checker.checker);
}

/** The run directory of the first healthy run, whose report the browser test opens. */
let healthyRunDir: string | undefined;

describe('raftkv jepsen on the healthy build', () => {
  it('a register run under partitions and kills is linearizable (exit 0)', async () => {
    const run = await runJepsen(words('--workload register --nemesis partition,kill --seed 1'), 15);
    expect(run.exitCode, run.output).toBe(0);
    expect(run.results.verdict).toBe('pass');
    expect(run.results.checkers.map((checker) => checker.checker)).toEqual([
      'linearizability',
      'stale-read',
      'recovery',
      'nodes-alive',
    ]);
    for (const file of ['history.jsonl', 'results.json', 'report.html'])
      expect(existsSync(join(run.runDir, file))).toBe(true);
    healthyRunDir = run.runDir;
  });

  it('a set run under kills and pauses loses nothing (exit 0)', async () => {
    const run = await runJepsen(words('--workload set --nemesis kill,pause --seed 2'), 15);
    expect(run.exitCode, run.output).toBe(0);
    expect(run.results.checkers.find((checker) => checker.checker === 'set')?.valid).toBe(true);
  });
});

describe('raftkv jepsen finds planted bugs', () => {
  it('--test-stale-deposed-reads: a leader cut off from the majority serves stale reads (exit 1)', async () => {
    // The deposed leader steps down within an election timeout (CheckQuorum), so the window in
    // which two nodes believe they lead is short: many short partitions and many busy clients.
    // Whether a read lands in that window after a newer write depends on timing, which a loaded
    // machine shifts: a second seed gets a second chance. Both runs missing it fails the test.
    let run: Awaited<ReturnType<typeof runJepsen>> | undefined;
    for (const seed of [3, 6]) {
      run = await runJepsen(
        [
          ...words('--workload register --nemesis partition:leader --nemesis-interval 1 --fault-duration 1'),
          ...words(`--keys 2 --rate 5000 --concurrency 100 --op-timeout 300 --checker-time 5 --seed ${seed}`),
          ...['--node-flags', '--test-stale-deposed-reads'],
        ],
        20,
      );
      if (run.exitCode === 1 && failedCheckers(run).includes('stale-read')) break;
      console.log(`seed ${seed} did not catch the planted bug (exit ${run.exitCode}); trying the next seed`);
    }
    expect(run!.exitCode, run!.output).toBe(1);
    expect(failedCheckers(run!)).toContain('stale-read');
  });

  it('--test-ack-before-fsync --test-lazy-storage: followers killed under load forget acknowledged writes (exit 1)', async () => {
    // Followers acknowledge appends they hold only in memory, and SIGKILL drops them. A follower
    // killed while the leader lives on comes back without entries the leader believes it holds,
    // so the leader never sends them again and the cluster never catches up (recovery), or a node
    // stops on a failed assertion (nodes-alive). Kills that include the leader find the bug only
    // in some runs (docs/testing.md): the leader's own copy is on disk before it commits.
    // Whether a kill lands in the window that loses a write depends on timing, which a loaded
    // machine shifts: a second seed gets a second chance. Both runs missing it fails the test.
    const lossSymptoms = ['set', 'nodes-alive', 'recovery'];
    let run: Awaited<ReturnType<typeof runJepsen>> | undefined;
    for (const seed of [4, 5]) {
      run = await runJepsen(
        [
          ...words('--workload set --nemesis kill:minority --nemesis-interval 2 --fault-duration 1'),
          ...words(`--rate 200 --concurrency 20 --seed ${seed}`),
          ...['--node-flags', '--test-ack-before-fsync --test-lazy-storage'],
        ],
        20,
      );
      if (run.exitCode === 1 && failedCheckers(run).some((checker) => lossSymptoms.includes(checker))) break;
      console.log(`seed ${seed} did not catch the planted bug (exit ${run.exitCode}); trying the next seed`);
    }
    expect(run!.exitCode, run!.output).toBe(1);
    expect(failedCheckers(run!).some((checker) => lossSymptoms.includes(checker))).toBe(true);
  });
});

describe('report.html', () => {
  it('renders in headless Chromium with the verdict and the timeline', async () => {
    const runDir =
      healthyRunDir ?? (await runJepsen(words('--workload register --nemesis partition'), 5)).runDir;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const requests: string[] = [];
      page.on('request', (request) => requests.push(request.url()));
      await page.goto(`file://${join(runDir, 'report.html')}`);
      await expect(page.locator('#verdict').textContent()).resolves.toBe('PASS');
      const timeline = page.locator('svg#timeline');
      expect(await timeline.boundingBox()).toMatchObject({ width: expect.any(Number) });
      expect(await timeline.locator('rect').count()).toBeGreaterThan(10);
      expect(await page.locator('#checkers td.pass').count()).toBe(4);
      expect(await page.locator('svg#latency circle').count()).toBeGreaterThan(10);
      expect(requests.filter((url) => !url.startsWith('file://'))).toEqual([]);
      await page.screenshot({ path: join(runDir, 'report.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
