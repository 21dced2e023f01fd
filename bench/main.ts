// `raftkv bench` (also `npm run bench`): raftkv and etcd side by side in one run (design.md §6
// "Bench output"). Starts a fresh 5-node cluster of each, runs the scenarios with a separate
// load-generator process per point, stops both and writes results.json, report.md, report.html.
import { execFileSync } from 'node:child_process';
import { mkdir, statfs, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from '../src/cli-args.js';
import { defaultRaftConfig, tickMs } from '../src/config.js';
import { hostProbeCpuMs } from './cpu.js';
import {
  etcdElectionTimeoutMs,
  etcdHeartbeatMs,
  etcdInstallCommand,
  findEtcdBinary,
} from './etcd-cluster.js';
import { failoverLoadClients } from './failover.js';
import { type BenchOptions, benchUsage, parseBenchOptions } from './options.js';
import {
  type ProfileSummary,
  profileSection,
  profileSectionTitle,
  readNodeProfiles,
  summarizeProfile,
} from './profile.js';
import { type ReportSection, type RunSetup, renderMarkdown, runNotes } from './report.js';
import { renderHtml } from './report-html.js';
import type { ResultRow } from './result-row.js';
import { ScenarioRunner, valueBytes } from './scenarios.js';
import { type BenchSystem, clusterSize, startSystems } from './systems.js';

/** Free space needed under the temp dir: ten data dirs, etcd's preallocated WAL files, raftkv's logs. */
const freeDiskBytesMin = 4 * 1024 ** 3;

async function checkFreeDisk(): Promise<void> {
  const stats = await statfs(tmpdir());
  const freeBytes = stats.bavail * stats.bsize;
  if (freeBytes < freeDiskBytesMin) {
    throw new Error(
      `only ${(freeBytes / 1024 ** 3).toFixed(1)} GiB free under ${tmpdir()}; the bench needs ${freeDiskBytesMin / 1024 ** 3} GiB`,
    );
  }
}

function runSetup(
  options: BenchOptions,
  startedAt: string,
  etcdBinary: string | undefined,
  hostProbeMs: { start: number; end: number },
  loadAverage: number,
): RunSetup {
  const heartbeatMs = defaultRaftConfig.heartbeatTicks * tickMs;
  const electionMsMin = defaultRaftConfig.electionTimeoutTicksMin * tickMs;
  const etcdVersionText = etcdBinary ? execFileSync(etcdBinary, ['--version'], { encoding: 'utf8' }) : '';
  const etcdVersion = /etcd Version: (\S+)/.exec(etcdVersionText)?.[1] ?? 'of unknown version';
  const load =
    options.rateOpsPerSec === undefined
      ? `closed loop (each client sends its next request when the last is answered)`
      : `open loop at ${options.rateOpsPerSec} ops/s (latency from each request's due time), "clients" = most in flight`;
  return {
    startedAt,
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Linux ${release()}, Node ${process.version}`,
    lines: [
      `raftkv: ${clusterSize} nodes, fsync on, heartbeat ${heartbeatMs} ms, election timeout ${electionMsMin}–${2 * electionMsMin} ms; HTTP/JSON through undici pools`,
      etcdBinary
        ? `etcd ${etcdVersion}: ${clusterSize} members, fsync on, heartbeat ${etcdHeartbeatMs} ms, election timeout ${etcdElectionTimeoutMs} ms; gRPC through the etcd3 client, or its JSON gateway`
        : 'etcd: not compared (--no-etcd)',
      `load: ${load}; ${options.durationSec} s measured per point after a warm-up; keys uniform over ${options.keyCount}; ${valueBytes}-byte values; a separate load-generator process per point`,
      'every point is measured every way in "via" (raftkv to all nodes or to the leader only; etcd by gRPC or by its JSON gateway, to all members or to the leader only), and the best way is kept (most ops/s; with --rate, the lowest p99); results.json extra.variants has them all',
      options.rounds > 1
        ? `rounds: the best way is measured ${options.rounds - 1} more times, the systems taking turns to go first, and each row shows the median of its ${options.rounds} windows (results.json extra.rounds has each; the last column, their spread)`
        : 'rounds: one window per point and system (--rounds N takes the median of N)',
      'reads: the key space is written once before them; etcd has no lease read (served linearizable), its stale read is a serializable one',
      'CPU: utime+stime of every server process in the window (/proc); both clusters run at once on this machine, the idle one shows as extra.otherSystemCpuSec, other work on the machine as extra.outsideCpuSec',
      ...(options.scenarios.includes('failover')
        ? [
            `failover: ${options.failoverTrials} leader kills (SIGKILL) per system under ${failoverLoadClients} closed-loop writers over all members; etcd once with raftkv's heartbeat and election timeout (a cluster of its own), once with its defaults; etcd keeps its default PreVote setting (off before 3.5), raftkv runs PreVote + CheckQuorum`,
          ]
        : []),
      ...(options.profile
        ? [
            "profiles: every raftkv node ran under V8's sampling profiler (--profile), which costs it a few % of its speed",
          ]
        : []),
      `load average when the run started: ${loadAverage.toFixed(2)} on ${cpus().length} cores`,
      `host probe (a fixed loop, ms of CPU; more means a slower or busier host, compare across runs): ${hostProbeMs.start.toFixed(0)} before the run, ${hostProbeMs.end.toFixed(0)} after it`,
    ],
  };
}

async function writeReports(
  outDir: string,
  rows: ResultRow[],
  setup: RunSetup,
  extraSections: ReportSection[],
): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const notes = runNotes(rows, cpus().length);
  const markdown = renderMarkdown(rows, setup, notes, extraSections);
  await writeFile(join(outDir, 'results.json'), `${JSON.stringify(rows, null, 2)}\n`);
  await writeFile(join(outDir, 'report.md'), markdown);
  await writeFile(join(outDir, 'report.html'), renderHtml(rows, setup, notes, extraSections));
  console.log(markdown);
  console.log(`results, report.md and report.html in ${outDir}`);
}

export async function benchMain(argv: string[]): Promise<number> {
  const options = parseBenchOptions(argv);
  const etcdBinary = options.compareEtcd ? findEtcdBinary() : undefined;
  if (options.compareEtcd && !etcdBinary) {
    console.error(
      `raftkv bench: etcd is not installed. Install it with\n  ${etcdInstallCommand}\n` +
        '(as root, or with sudo), or pass --no-etcd to bench raftkv alone.',
    );
    return 2;
  }
  await checkFreeDisk();
  const startedAt = new Date().toISOString();
  const loadAverage = loadavg()[0]!;
  const hostProbeStartMs = hostProbeCpuMs();
  // The clusters run in their own process groups, so Ctrl-C reaches only the bench: stop them here.
  const interrupted = new AbortController();
  const onSignal = () => interrupted.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const logDir = join(options.outDir, 'logs');
  const profileDir = options.profile ? join(options.outDir, 'profiles') : undefined;
  let rows: ResultRow[];
  let roles: Map<string, string> | undefined;
  try {
    const running = await startSystems(etcdBinary, logDir, profileDir);
    try {
      rows = await new ScenarioRunner(options, running, interrupted.signal, logDir).runAll();
      if (profileDir) roles = await raftkvRoles(running.systems.find((system) => system.name === 'raftkv')!);
    } finally {
      await running.stop(logDir);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const profileSections = profileDir ? [await profilesOf(profileDir, roles!)] : [];
  const hostProbeMs = { start: hostProbeStartMs, end: hostProbeCpuMs() };
  const setup = runSetup(options, startedAt, etcdBinary, hostProbeMs, loadAverage);
  await writeReports(options.outDir, rows, setup, profileSections);
  return 0;
}

/** Each raftkv node's role at the end of the run, by name (n1..n5). */
async function raftkvRoles(raftkv: BenchSystem): Promise<Map<string, string>> {
  const leader = await raftkv.leaderEndpoint().catch(() => undefined);
  return new Map(
    raftkv.processes.map((process, at) => [
      process.name,
      leader === undefined ? 'role unknown' : raftkv.endpoints[at] === leader ? 'leader' : 'follower',
    ]),
  );
}

/** The profile section of the reports, over every node that wrote a profile. */
async function profilesOf(profileDir: string, roles: Map<string, string>): Promise<ReportSection> {
  const summaries: ProfileSummary[] = [];
  for (const [name, role] of roles) {
    const profile = await readNodeProfiles(join(profileDir, name));
    if (profile) summaries.push(summarizeProfile(profile, name, role));
  }
  if (summaries.length === 0)
    return { title: profileSectionTitle, intro: 'No node wrote a profile.', tables: [] };
  // The leader first: it does the most, and differently.
  summaries.sort((a, b) => Number(b.role === 'leader') - Number(a.role === 'leader'));
  return profileSection(summaries, profileDir);
}

// `npm run bench` runs this file directly; `raftkv bench` imports benchMain through the CLI.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    process.exitCode = await benchMain(process.argv.slice(2));
  } catch (error) {
    console.error(`raftkv bench: ${(error as Error).message}`);
    if (error instanceof UsageError) console.error(benchUsage);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  }
}
