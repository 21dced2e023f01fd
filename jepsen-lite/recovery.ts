// After the faults are healed the cluster must come back on its own: one leader that a majority
// follows, and every node applying the same index. A cluster that does not recover within the
// deadline is a violation (liveness), as it is in the simulator. And no node may crash.
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckerResult } from './checkers/verdict.js';
import type { RealCluster } from './real/real-cluster.js';

/** From the end of the faults to a leader and every node caught up. */
export const recoveryDeadlineMs = 30_000;

export async function checkRecovery(
  cluster: RealCluster,
  deadlineMs = recoveryDeadlineMs,
): Promise<CheckerResult> {
  const startMs = performance.now();
  const running = cluster.members.filter((member) => cluster.isRunning(member.id)).length;
  // No quorum can form, so there is nothing to wait for (nodes-alive says why they are down).
  if (running <= cluster.members.length / 2)
    return {
      checker: 'recovery',
      valid: false,
      summary: `only ${running} of ${cluster.members.length} nodes are up`,
    };
  try {
    const leader = await cluster.waitForLeader(deadlineMs);
    const leaderStatus = await cluster.status(leader);
    const remainingMs = Math.max(1, deadlineMs - (performance.now() - startMs));
    const appliedIndex = await cluster.waitForConvergence(leaderStatus.commitIndex, remainingMs);
    const recoveryMs = Math.round(performance.now() - startMs);
    return {
      checker: 'recovery',
      valid: true,
      summary: `leader ${leader} and every running node at applied index ${appliedIndex} ${recoveryMs} ms after healing`,
      details: { leader, appliedIndex, recoveryMs },
    };
  } catch (error) {
    return {
      checker: 'recovery',
      valid: false,
      summary: `not recovered within ${deadlineMs} ms of healing: ${(error as Error).message}`,
    };
  }
}

/**
 * At the very end: every node process must still be up. The nemesis restarts what it kills, so a
 * node that is down exited by itself (a failed assertion, a refused start-up): its log says why.
 */
export async function checkNodesAlive(cluster: RealCluster): Promise<CheckerResult> {
  const ids = cluster.members.map((member) => member.id);
  const down = ids.filter((id) => !cluster.isRunning(id));
  if (down.length === 0)
    return { checker: 'nodes-alive', valid: true, summary: `all ${ids.length} node processes up at the end` };
  const reasons = await Promise.all(down.map((id) => lastFatalLogLine(cluster.dataDir, id)));
  return {
    checker: 'nodes-alive',
    valid: false,
    summary: down.map((id, i) => `node ${id} exited by itself: ${reasons[i]} (logs/n${id}.log)`).join('; '),
    details: { down },
  };
}

/** Node logs are pino JSON lines; a fatal one (level 60) says why the node stopped. */
const fatalLevel = 60;
/** Only the end of a log is read: the reason is in its last lines. */
const logTailBytes = 1024 * 1024;
/** A reason is one line of the summary, not a stack trace. */
const reasonCharsMax = 200;

interface LogLine {
  level?: number;
  msg?: string;
  err?: { message?: string };
}

/** Why the node stopped: its last fatal log line, else the last line it wrote to stderr. */
async function lastFatalLogLine(dataDir: string, id: number): Promise<string> {
  let lines: string[];
  try {
    lines = (await readTail(join(dataDir, `n${id}.log`), logTailBytes))
      .split('\n')
      .filter((line) => line.trim() !== '');
  } catch (error) {
    return `its log could not be read (${(error as Error).message})`;
  }
  const parsed = lines.map((line) => {
    try {
      return JSON.parse(line) as LogLine;
    } catch {
      return line;
    }
  });
  const fatal = parsed
    .filter((line): line is LogLine => typeof line === 'object' && line.level === fatalLevel)
    .at(-1);
  const reason = fatal
    ? (fatal.err?.message ?? fatal.msg ?? 'a fatal error')
    : (parsed.filter((line): line is string => typeof line === 'string').at(-1) ?? 'no error logged');
  return reason.slice(0, reasonCharsMax);
}

/** The last whole lines within the last `bytesMax` bytes of a file. */
async function readTail(path: string, bytesMax: number): Promise<string> {
  const size = (await stat(path)).size;
  const handle = await open(path);
  try {
    const tail = Buffer.alloc(Math.min(size, bytesMax));
    await handle.read(tail, 0, tail.length, size - tail.length);
    const text = tail.toString();
    // A tail that starts mid-file starts mid-line: that first piece is no line.
    return tail.length < size ? text.slice(text.indexOf('\n') + 1) : text;
  } finally {
    await handle.close();
  }
}
