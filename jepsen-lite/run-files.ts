// A run's directory (design.md §6): history.jsonl, results.json, report.html, and the nodes' logs.
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toJsonl } from './history.js';
import { faultWindows } from './report/history-views.js';
import { type ReportInput, renderReport } from './report/report.js';

/** Names tried for a run's directory when another run took the same millisecond. */
const runDirAttemptsMax = 100;

export async function createRunDir(runsDir: string): Promise<string> {
  await mkdir(runsDir, { recursive: true });
  const stamp = new Date().toISOString().replaceAll(':', '-').replace('.', '-');
  for (let attempt = 0; attempt < runDirAttemptsMax; attempt++) {
    const runDir = join(runsDir, attempt === 0 ? stamp : `${stamp}-${attempt}`);
    try {
      await mkdir(runDir);
      return runDir;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  throw new Error(`could not create a run directory under ${runsDir}`);
}

export interface RunFiles {
  history: string;
  results: string;
  report: string;
}

export function runFilesOf(runDir: string): RunFiles {
  return {
    history: join(runDir, 'history.jsonl'),
    results: join(runDir, 'results.json'),
    report: join(runDir, 'report.html'),
  };
}

export interface RunRecordFiles {
  report: ReportInput;
  exitCode: number;
  /** Everything else results.json should hold: options, timings. */
  extra: Record<string, unknown>;
}

export async function writeRunFiles(runDir: string, run: RunRecordFiles): Promise<RunFiles> {
  const files = runFilesOf(runDir);
  const { history, results, verdict, notes } = run.report;
  const resultsJson = {
    verdict,
    exitCode: run.exitCode,
    ...run.extra,
    checkers: results,
    faults: faultWindows(history),
    notes,
    historyOps: history.length,
  };
  await writeFile(files.history, toJsonl(history));
  await writeFile(files.results, `${JSON.stringify(resultsJson, null, 2)}\n`);
  await writeFile(files.report, renderReport(run.report));
  return files;
}

/** The nodes write their logs beside their data; the data goes, the logs stay with the run. */
export async function copyNodeLogs(clusterDataDir: string, runDir: string): Promise<void> {
  const logsDir = join(runDir, 'logs');
  await mkdir(logsDir, { recursive: true });
  const names = await readdir(clusterDataDir).catch(() => [] as string[]);
  for (const name of names.filter((file) => file.endsWith('.log')))
    await copyFile(join(clusterDataDir, name), join(logsDir, name));
}
