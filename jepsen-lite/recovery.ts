// After the faults are healed the cluster must come back on its own: every node process still
// up (a node that exited by itself crashed: an assertion, a refused start-up), one leader that a
// majority follows, and every node applying the same index. A cluster that does not recover
// within the deadline is a violation (liveness), as it is in the simulator.
import type { CheckerResult } from './checkers/verdict.js';
import type { RealCluster } from './real/real-cluster.js';

/** From the end of the faults to a leader and every node caught up. */
export const recoveryDeadlineMs = 30_000;

export async function checkRecovery(cluster: RealCluster, deadlineMs = recoveryDeadlineMs): Promise<CheckerResult> {
  const startMs = performance.now();
  const down = cluster.members.map((member) => member.id).filter((id) => !cluster.isRunning(id));
  if (down.length > 0)
    return {
      checker: 'recovery',
      valid: false,
      summary: `node${down.length > 1 ? 's' : ''} ${down.join(', ')} exited by itself (see logs/n${down[0]}.log in the run directory)`,
      details: { down },
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
      summary: `leader ${leader} and every node at applied index ${appliedIndex} ${recoveryMs} ms after healing`,
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
