// One snapshot of everything the dashboard page shows, built from the supervisor (processes,
// links), the poller (what each node says), the write load and the failover clock.
import { clientUrl } from '../../src/node/members.js';
import type { NodeSupervisor, ProcessState } from '../node-supervisor.js';
import type { Failover, FailoverClock } from './failover-clock.js';
import type { LeaderSeen, NodeStatusView, StatusPoller } from './status-poller.js';
import { chartBucketMs, loadWritesPerSecond, type WriteBucket, type WriteLoad } from './write-load.js';

export interface NodeCard {
  id: number;
  /** The node's own status page. */
  url: string;
  process: ProcessState;
  pid: number | null;
  exitedWith: string | null;
  isolated: boolean;
  answering: boolean;
  /** Since the node last answered a status poll ("last contact"). */
  lastAnswerAgoMs: number | null;
  /** What the node said last; kept (and shown faded) while it does not answer. */
  role: string | null;
  term: number | null;
  leaderId: number | null;
  commitIndex: number | null;
  appliedIndex: number | null;
  isLeader: boolean;
  health: string;
}

export interface DashboardState {
  nowMs: number;
  leader: LeaderSeen | null;
  nodes: NodeCard[];
  load: { running: boolean; targetPerSec: number; writesPerSec: number; errorsPerSec: number };
  chart: { bucketMs: number; buckets: WriteBucket[] };
  failovers: readonly Failover[];
}

export interface DashboardParts {
  supervisor: NodeSupervisor;
  poller: StatusPoller;
  load: WriteLoad;
  failovers: FailoverClock;
}

/** Under load every follower applies a few entries behind its commit index; more is worth showing. */
export const applyLagEntriesShown = 100;

/** One word or two for the card: what is wrong with the node first, "ok" when nothing is. */
export function healthOf(process: ProcessState, isolated: boolean, view: NodeStatusView): string {
  if (process === 'exited') return 'down';
  if (process !== 'running') return process;
  if (isolated) return 'isolated';
  if (!view.answering || !view.status) return 'not answering';
  if (view.status.leaderId === null) return 'no leader known';
  const lag = view.status.commitIndex - view.status.appliedIndex;
  if (lag > applyLagEntriesShown) return `applying (${lag} behind)`;
  return 'ok';
}

export function dashboardState(parts: DashboardParts, nowMs = Date.now()): DashboardState {
  const { supervisor, poller, load } = parts;
  const leader = poller.leader();
  const nodes = supervisor.views().map((processView): NodeCard => {
    const view = poller.view(processView.id);
    const status = view.status;
    return {
      id: processView.id,
      url: `${clientUrl(supervisor.member(processView.id))}/`,
      process: processView.state,
      pid: processView.pid,
      exitedWith: processView.exitedWith,
      isolated: processView.isolated,
      answering: view.answering,
      lastAnswerAgoMs: view.lastAnswerAtMs === null ? null : nowMs - view.lastAnswerAtMs,
      role: status?.role ?? null,
      term: status?.term ?? null,
      leaderId: status?.leaderId ?? null,
      commitIndex: status?.commitIndex ?? null,
      appliedIndex: status?.appliedIndex ?? null,
      isLeader: leader?.id === processView.id,
      health: healthOf(processView.state, processView.isolated, view),
    };
  });
  return {
    nowMs,
    leader,
    nodes,
    load: { running: load.running, targetPerSec: loadWritesPerSecond, ...load.rates() },
    chart: { bucketMs: chartBucketMs, buckets: load.series() },
    failovers: parts.failovers.list(),
  };
}
