// The dashboard of `raftkv cluster`, on the base port: wires the status poller, the write load
// and the failover clock to the supervisor, and pushes the state to open pages every 250 ms.
import { clientUrl } from '../../src/node/members.js';
import type { NodeSupervisor } from '../node-supervisor.js';
import { buildDashboardApp } from './dashboard-app.js';
import { dashboardState } from './dashboard-state.js';
import type { EventLog } from './event-log.js';
import { FailoverClock } from './failover-clock.js';
import { SseHub } from './sse-hub.js';
import { StatusPoller } from './status-poller.js';
import { WriteLoad } from './write-load.js';

/** How often open pages get a fresh state. */
export const statePushMs = 250;

export interface DashboardOptions {
  supervisor: NodeSupervisor;
  events: EventLog;
  host: string;
  port: number;
}

export interface RunningDashboard {
  close(): Promise<void>;
}

/** The leader when it can take writes, else the next node in turn that is up and answering. */
function writeTargetPicker(supervisor: NodeSupervisor, poller: StatusPoller): () => string | null {
  let turn = 0;
  const usable = (id: number) => supervisor.state(id) === 'running' && !supervisor.isIsolated(id);
  return () => {
    const leader = poller.leader();
    const members = supervisor.members;
    if (leader && usable(leader.id)) return clientUrl(supervisor.member(leader.id));
    for (let tried = 0; tried < members.length; tried++) {
      const member = members[turn++ % members.length]!;
      if (usable(member.id) && poller.view(member.id).answering) return clientUrl(member);
    }
    return null;
  };
}

export async function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  const { supervisor, events } = options;
  const failovers = new FailoverClock(events, () => load.running);
  const poller = new StatusPoller({
    members: supervisor.members,
    events,
    isPollable: (id) => supervisor.state(id) !== 'exited',
    onLeader: (leader, atMs) => failovers.leaderSeen(leader, atMs),
  });
  const load = new WriteLoad({
    pickTarget: writeTargetPicker(supervisor, poller),
    onAcknowledged: (startedAtMs, ackedAtMs) => failovers.writeAcknowledged(startedAtMs, ackedAtMs),
  });
  const hub = new SseHub();
  const parts = { supervisor, poller, load, failovers };
  const app = await buildDashboardApp({ ...parts, events, hub });
  await app.listen({ host: options.host, port: options.port });
  poller.start();
  const unsubscribe = events.subscribe((event) => hub.broadcast('log', event));
  const pushTimer = setInterval(() => {
    if (hub.size > 0) hub.broadcast('state', dashboardState(parts));
  }, statePushMs);
  return {
    async close() {
      clearInterval(pushTimer);
      unsubscribe();
      hub.close();
      await app.close();
      await load.close();
      await poller.stop();
      failovers.close();
    },
  };
}
