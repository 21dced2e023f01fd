// `raftkv bench --profile`: every raftkv node runs under V8's sampling profiler (--cpu-prof), and
// the profiles are summed up per node: where the main thread's time went, by part of the stack
// (HTTP, codec, LevelDB, Raft core, apply, GC...) and by function. The .cpuprofile files stay in
// <out>/profiles/n<id>/; Chrome DevTools (Performance, load profile) or speedscope draw them as
// flame graphs.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReportSection } from './report.js';

/** The parts of the fields of a .cpuprofile (V8's Profiler.Profile) that the summary reads. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/** One node's profile summed up. */
export interface ProfileSummary {
  name: string;
  role: string;
  /** Main-thread time sampled busy (not idle in the event loop), in ms. */
  busyMs: number;
  /** Share of busyMs per part of the stack, largest first. */
  parts: { part: string; share: number }[];
  /** Functions by their own (self) time, largest first, at most topFunctionsMax. */
  functions: { name: string; part: string; share: number }[];
}

/** Functions listed per profiled node. */
const topFunctionsMax = 12;

/**
 * The part of the stack a frame belongs to, by its script. Frames without a script (V8 builtins,
 * native bindings like the socket write) count for the nearest caller that has one.
 */
const logStoragePart = 'log storage (encode, CRC, write, fdatasync)';

const partsByUrl: readonly [RegExp, string][] = [
  [/\/dist\/src\/raft\//, 'Raft core'],
  [/\/dist\/src\/(statemachine|quorum)\//, 'state machine and reads'],
  [/\/dist\/src\/node\/(level-storage|log-file|durable-storage|level-batch|crc32)/, logStoragePart],
  [/\/dist\/src\/node\//, 'node runtime and peer transport'],
  [/\/dist\/src\/http\//, 'HTTP routes'],
  [/\/dist\/src\//, 'raftkv, other'],
  [/\/node_modules\/msgpackr\//, 'msgpack codec'],
  [/\/node_modules\/(classic-level|abstract-level|level-transcoder|module-error)\//, 'LevelDB bindings'],
  [
    /\/node_modules\/(fastify|@fastify|find-my-way|avvio|light-my-request|secure-json-parse|fast-json-stringify|fast-querystring|toad-cache)\//,
    'fastify',
  ],
  [/\/node_modules\/(pino|sonic-boom|thread-stream)\//, 'logging'],
  [/\/node_modules\/prom-client\//, 'metrics'],
  [/^node:(_http|http|net|stream|internal\/(stream|streams|http|net|dns))/, 'Node HTTP and sockets'],
  [/^node:internal\/(modules|vm)|^node:vm/, 'start-up (loading modules)'],
  // At run time only the log files call node:fs (writev and fdatasync, on the node's own thread).
  [/^node:fs$/, logStoragePart],
  [/^node:/, 'Node runtime (timers, promises, events)'],
];

function partOf(url: string): string | undefined {
  if (url === '') return undefined;
  return partsByUrl.find(([pattern]) => pattern.test(url))?.[1] ?? 'other libraries';
}

/** Time no script can be charged with: V8's own "(program)" frame, or a root without a script. */
const unattributedPart = 'V8 and Node native (not attributed)';

/** V8's pseudo-frames: time outside JavaScript. */
const pseudoParts = new Map([
  ['(garbage collector)', 'garbage collection'],
  ['(program)', unattributedPart],
]);

/** Sums a profile up: (idle) samples are left out; every other sample counts for its leaf. */
export function summarizeProfile(profile: CpuProfile, name: string, role: string): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  /** Per profile node: its part (of itself or its nearest caller with a script). */
  const partCache = new Map<number, string>();
  const partOfNode = (id: number): string => {
    const cached = partCache.get(id);
    if (cached !== undefined) return cached;
    const { functionName, url } = byId.get(id)!.callFrame;
    const parent = parentOf.get(id);
    const part =
      pseudoParts.get(functionName) ??
      partOf(url) ??
      (parent === undefined ? unattributedPart : partOfNode(parent));
    partCache.set(id, part);
    return part;
  };
  const partUs = new Map<string, number>();
  const functionUs = new Map<string, { part: string; us: number }>();
  let busyUs = 0;
  profile.samples.forEach((id, at) => {
    const node = byId.get(id);
    if (node === undefined || node.callFrame.functionName === '(idle)') return;
    const us = profile.timeDeltas[at] ?? 0;
    busyUs += us;
    const part = partOfNode(id);
    partUs.set(part, (partUs.get(part) ?? 0) + us);
    const key = functionLabel(node.callFrame);
    const entry = functionUs.get(key) ?? { part, us: 0 };
    entry.us += us;
    functionUs.set(key, entry);
  });
  const share = (us: number) => (busyUs > 0 ? us / busyUs : 0);
  return {
    name,
    role,
    busyMs: busyUs / 1000,
    parts: [...partUs].map(([part, us]) => ({ part, share: share(us) })).sort((a, b) => b.share - a.share),
    functions: [...functionUs]
      .map(([label, { part, us }]) => ({ name: label, part, share: share(us) }))
      .sort((a, b) => b.share - a.share)
      .slice(0, topFunctionsMax),
  };
}

/** `name file:line`, the file relative to dist/ or node_modules/ where it is in one. */
function functionLabel({ functionName, url }: { functionName: string; url: string }): string {
  const where = url.replace(/^.*\/(dist|node_modules)\//, '');
  return where === '' ? functionName || '(anonymous)' : `${functionName || '(anonymous)'} ${where}`;
}

/**
 * Every profile a node wrote in its directory, summed as one (a node started again writes a
 * second file). Undefined when there is none: a node killed with SIGKILL writes nothing.
 */
export async function readNodeProfiles(directory: string): Promise<CpuProfile | undefined> {
  const files = (await readdir(directory).catch(() => [] as string[])).filter((file) =>
    file.endsWith('.cpuprofile'),
  );
  if (files.length === 0) return undefined;
  const merged: CpuProfile = { nodes: [], samples: [], timeDeltas: [] };
  let idOffset = 0;
  for (const file of files.sort()) {
    const profile = JSON.parse(await readFile(join(directory, file), 'utf8')) as CpuProfile;
    let maxId = 0;
    for (const node of profile.nodes) {
      maxId = Math.max(maxId, node.id);
      merged.nodes.push({
        ...node,
        id: node.id + idOffset,
        ...(node.children ? { children: node.children.map((child) => child + idOffset) } : {}),
      });
    }
    merged.samples.push(...profile.samples.map((id) => id + idOffset));
    merged.timeDeltas.push(...profile.timeDeltas);
    idOffset += maxId + 1;
  }
  return merged;
}

const percent = (share: number) => `${(100 * share).toFixed(1)}%`;

/** The profile section of both reports: parts side by side for every node, then each node's top functions. */
export function profileSection(summaries: readonly ProfileSummary[], profileDir: string): ReportSection {
  const parts = [...new Set(summaries.flatMap((summary) => summary.parts.map((p) => p.part)))];
  const shareOf = (summary: ProfileSummary, part: string) =>
    summary.parts.find((p) => p.part === part)?.share ?? 0;
  // Parts in order of their largest share on any node.
  parts.sort(
    (a, b) =>
      Math.max(...summaries.map((s) => shareOf(s, b))) - Math.max(...summaries.map((s) => shareOf(s, a))),
  );
  return {
    title: profileSectionTitle,
    intro:
      `Each raftkv node ran under V8's sampling profiler (--cpu-prof) for the whole run; the .cpuprofile files are in ${profileDir} (open them in Chrome DevTools or speedscope for flame graphs). ` +
      "Shares are of the main thread's busy time; a frame with no script of its own (a V8 builtin, a native call) counts for its nearest caller that has one. " +
      "The samples are wall-clock: time a node spent preempted inside a system call (a loopback socket write wakes the reader, who may take the CPU) counts for that call; LevelDB's and V8's own threads are not in them.",
    tables: [
      {
        table: {
          header: ['part of the stack', ...summaries.map((s) => `${s.name} (${s.role})`)],
          cells: [
            ['busy ms', ...summaries.map((s) => s.busyMs.toFixed(0))],
            ...parts.map((part) => [part, ...summaries.map((s) => percent(shareOf(s, part)))]),
          ],
        },
      },
      ...summaries.map((summary) => ({
        title: `${summary.name} (${summary.role}): functions by own time`,
        table: {
          header: ['function', 'part', 'share'],
          cells: summary.functions.map((f) => [f.name, f.part, percent(f.share)]),
        },
      })),
    ],
  };
}

export const profileSectionTitle = 'where raftkv spent its time (profiles)';
