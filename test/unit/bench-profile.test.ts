// The bench's profile summary (bench/profile.ts) on hand-made V8 profiles: which part of the stack
// each sample counts for, that idle time is left out, and that a node's profiles are summed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type CpuProfile, profileSection, readNodeProfiles, summarizeProfile } from '../../bench/profile.js';
import { renderMarkdown } from '../../bench/report.js';
import { renderHtml } from '../../bench/report-html.js';

const dist = 'file:///app/dist/src';
const modules = 'file:///app/node_modules';

/**
 * (root) -> fastify handler -> route write -> propose (raft) ; (root) -> socket write (node:net)
 * -> writeBuffer (native, no script) ; (root) -> (idle) ; (root) -> (garbage collector).
 */
function profile(): CpuProfile {
  const frame = (id: number, functionName: string, url: string, children?: number[]) => ({
    id,
    callFrame: { functionName, url },
    ...(children ? { children } : {}),
  });
  return {
    nodes: [
      frame(1, '(root)', '', [2, 5, 7, 8, 9]),
      frame(2, 'handler', `${modules}/fastify/lib/handle-request.js`, [3]),
      frame(3, 'write', `${dist}/http/routes/kv.js`, [4]),
      frame(4, 'propose', `${dist}/raft/raft.js`),
      frame(5, 'Socket._write', 'node:net', [6]),
      frame(6, 'writeBuffer', ''),
      frame(7, '(idle)', ''),
      frame(8, '(garbage collector)', ''),
      // A native function named like an Object.prototype member, with no scripted caller.
      frame(9, 'toString', ''),
    ],
    // 4 samples of propose, 2 of route code, 1 of fastify, 2 of writeBuffer, 1 of GC, 10 idle, 1 toString.
    samples: [4, 4, 4, 4, 3, 3, 2, 6, 6, 8, ...Array<number>(10).fill(7), 9],
    timeDeltas: Array<number>(21).fill(1000),
  };
}

describe('bench profile summary', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('counts each busy sample for its part of the stack, a native frame for its caller, and leaves idle out', () => {
    const summary = summarizeProfile(profile(), 'n1', 'leader');
    expect(summary.busyMs).toBe(11);
    expect(Object.fromEntries(summary.parts.map((p) => [p.part, p.share * 11]))).toEqual({
      'Raft core': 4,
      'HTTP routes': 2,
      fastify: 1,
      'Node HTTP and sockets': 2,
      'garbage collection': 1,
      'V8 and Node native (not attributed)': 1,
    });
    expect(summary.parts[0]!.part).toBe('Raft core');
    expect(summary.functions[0]).toEqual({
      name: 'propose src/raft/raft.js',
      part: 'Raft core',
      share: 4 / 11,
    });
    expect(summary.functions.find((f) => f.name === 'writeBuffer')?.part).toBe('Node HTTP and sockets');
  });

  it("sums every profile a node wrote (it was started again), and finds none for a killed node's empty directory", async () => {
    dir = await mkdtemp(join(tmpdir(), 'raftkv-profile-'));
    await writeFile(join(dir, 'CPU.1.cpuprofile'), JSON.stringify(profile()));
    await writeFile(join(dir, 'CPU.2.cpuprofile'), JSON.stringify(profile()));
    await writeFile(join(dir, 'notes.txt'), 'not a profile');
    const merged = (await readNodeProfiles(dir))!;
    expect(merged.samples).toHaveLength(42);
    expect(new Set(merged.nodes.map((node) => node.id)).size).toBe(18);
    const summary = summarizeProfile(merged, 'n2', 'follower');
    expect(summary.busyMs).toBe(22);
    expect(summary.parts.find((p) => p.part === 'Raft core')?.share).toBe(4 / 11);
    expect(await readNodeProfiles(join(dir, 'absent'))).toBeUndefined();
  });

  it('tables the parts side by side per node, then each node’s functions, in report.md and report.html', () => {
    const section = profileSection(
      [summarizeProfile(profile(), 'n1', 'leader'), summarizeProfile(profile(), 'n2', 'follower')],
      '/out/profiles',
    );
    const setup = { startedAt: '2026-11-27T00:00:00.000Z', machine: 'test machine', lines: [] };
    const markdown = renderMarkdown([], setup, [], [section]);
    expect(markdown).toContain('## where raftkv spent its time (profiles)');
    expect(markdown).toContain('| part of the stack | n1 (leader) | n2 (follower) |');
    expect(markdown).toContain('| Raft core | 36.4% | 36.4% |');
    expect(markdown).toContain('| busy ms | 11 | 11 |');
    expect(markdown).toContain('### n2 (follower): functions by own time');
    expect(markdown).toContain('/out/profiles');
    const html = renderHtml([], setup, [], [section]);
    expect(html).toContain('<h2>where raftkv spent its time (profiles)</h2>');
    expect(html).toContain('<td>Raft core</td><td>36.4%</td><td>36.4%</td>');
    expect(html).toContain('<h3>n1 (leader): functions by own time</h3>');
  });
});
