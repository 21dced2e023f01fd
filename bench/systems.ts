// The two systems under test, started fresh for one bench run and seen through one interface:
// where to send requests, which processes to charge CPU to, and how each may be reached.
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { RealCluster, waitFor } from '../jepsen-lite/real/real-cluster.js';
import { defaultRaftConfig, tickMs } from '../src/config.js';
import { EtcdCluster, etcdDefaultTiming, type RaftTiming } from './etcd-cluster.js';
import type { FailoverSubject, MemberState } from './failover.js';
import type { ClientKind, SystemName, TargetNodes } from './loadgen-protocol.js';
import { directoryBytes } from './restart.js';

/** Five members in each cluster, the size raftkv is built for (design.md). */
export const clusterSize = 5;
/** Generous: both clusters start at once on a possibly small machine. */
const startLeaderDeadlineMs = 60_000;
/** Before each measurement: a healthy cluster answers at once; a broken one costs this much per point. */
const pointLeaderDeadlineMs = 20_000;
/** One readiness probe of a restarting member; it is asked again until its deadline. */
const readyProbeTimeoutMs = 1_000;

export interface Variant {
  client: ClientKind;
  targets: TargetNodes;
}

export interface ServerProcess {
  pid: number;
  /** The member's name in its cluster: n1..n5 for raftkv, e1..e5 for etcd. */
  name: string;
}

export interface BenchSystem {
  name: SystemName;
  endpoints: string[];
  processes: ServerProcess[];
  /** Asked again before each measurement: leadership may move during a run. */
  leaderEndpoint(): Promise<string>;
  /** Every way of sending requests that the bench measures; each row reports the fastest. */
  variants: Variant[];
  /** The same cluster for the failover scenario (which restarts members: `processes` go stale). */
  failover: FailoverSubject;
}

/** A cluster started for one scenario only, stopped by it. */
export interface ExtraCluster {
  subject: FailoverSubject;
  /** Stops the cluster and removes its data, keeping each server's log in `logDir`. */
  stop(logDir: string): Promise<void>;
}

export interface RunningSystems {
  systems: BenchSystem[];
  /** Stops both clusters and removes their data, keeping each server's log in `logDir`. */
  stop(logDir: string): Promise<void>;
  /** Starts another etcd cluster with other Raft timing (undefined without etcd). */
  startEtcd: ((timing: RaftTiming, label: string) => Promise<ExtraCluster>) | undefined;
}

/** raftkv's Raft timing (config.ts): its election timeouts are in [min, 2 * min) (raft.ts electionTimeoutFor). */
export const raftkvTiming: RaftTiming = {
  heartbeatMs: defaultRaftConfig.heartbeatTicks * tickMs,
  electionTimeoutMs: defaultRaftConfig.electionTimeoutTicksMin * tickMs,
};

interface StartedCluster {
  dataDir: string;
  destroy(): Promise<void>;
}

/** Both launchers write each server's log as <dataDir>/<name>.log. */
async function keepLogs(cluster: StartedCluster, logDir: string): Promise<void> {
  await mkdir(logDir, { recursive: true });
  const logs = (await readdir(cluster.dataDir)).filter((file) => file.endsWith('.log'));
  await Promise.all(logs.map((file) => copyFile(join(cluster.dataDir, file), join(logDir, file))));
}

function raftkvFailover(cluster: RealCluster): FailoverSubject {
  const ids = cluster.members.map((member) => member.id);
  const stateOf = async (id: number): Promise<MemberState> => {
    const status = await cluster.status(id);
    const leaderId = status.role === 'leader' ? status.id : status.leaderId;
    const leaderIndex = ids.indexOf(leaderId ?? -1);
    return {
      term: status.term,
      leaderIndex: leaderIndex < 0 ? undefined : leaderIndex,
      appliedIndex: status.appliedIndex,
    };
  };
  return {
    system: 'raftkv',
    label: 'raftkv',
    timing: raftkvTiming,
    client: 'http',
    endpoints: ids.map((id) => cluster.url(id)),
    memberStates: async () =>
      (await Promise.allSettled(ids.map(stateOf))).map((s) =>
        s.status === 'fulfilled' ? s.value : undefined,
      ),
    kill: (index) => cluster.kill(ids[index]!),
    restart: (index) => cluster.startNode(ids[index]!),
    isReady: async (index) => {
      const answer = await request(`${cluster.url(ids[index]!)}/readyz`, {
        headersTimeout: readyProbeTimeoutMs,
        bodyTimeout: readyProbeTimeoutMs,
      }).catch(() => undefined);
      await answer?.body.dump();
      return answer?.statusCode === 200;
    },
    readyProbe: 'GET /readyz: 200 (knows a leader, applied up to its commit index)',
    memberName: (index) => `n${ids[index]}`,
    dataBytes: (index) => directoryBytes(join(cluster.dataDir, `n${ids[index]}`)),
  };
}

/** etcd through its JSON gateway: the same HTTP client as raftkv, so a kill costs both the same on the client side. */
function etcdFailover(cluster: EtcdCluster, timing: RaftTiming, label: string): FailoverSubject {
  return {
    system: 'etcd',
    label,
    timing,
    client: 'gateway',
    endpoints: cluster.endpoints,
    memberStates: () => cluster.memberStates(),
    kill: (index) => cluster.kill(index),
    restart: (index) => cluster.restart(index),
    isReady: (index) => cluster.isHealthy(index, readyProbeTimeoutMs),
    readyProbe: 'GET /health: {"health":"true"} (has a leader, a quorum read through it succeeds)',
    memberName: (index) => cluster.memberName(index),
    dataBytes: (index) => directoryBytes(cluster.memberDataDir(index)),
  };
}

async function raftkvSystem(cluster: RealCluster): Promise<BenchSystem> {
  await cluster.waitForLeader(startLeaderDeadlineMs);
  const ids = cluster.members.map((member) => member.id);
  // /v1/status carries each node's pid (design.md §6). A leader needs only a majority: a node
  // still starting may not listen yet, so each is asked until it answers.
  const pids = await Promise.all(
    ids.map((id) =>
      waitFor(`node ${id} to answer /v1/status`, startLeaderDeadlineMs, async () => {
        return ((await cluster.status(id)) as unknown as { pid: number }).pid;
      }),
    ),
  );
  return {
    name: 'raftkv',
    endpoints: ids.map((id) => cluster.url(id)),
    processes: ids.map((id, i) => ({ pid: pids[i]!, name: `n${id}` })),
    leaderEndpoint: async () => cluster.url(await cluster.waitForLeader(pointLeaderDeadlineMs)),
    variants: [
      { client: 'http', targets: 'all' },
      { client: 'http', targets: 'leader' },
    ],
    failover: raftkvFailover(cluster),
  };
}

async function etcdSystem(cluster: EtcdCluster): Promise<BenchSystem> {
  await cluster.waitForLeader(startLeaderDeadlineMs);
  return {
    name: 'etcd',
    endpoints: cluster.endpoints,
    processes: cluster.pids().map((pid, i) => ({ pid, name: `e${i + 1}` })),
    leaderEndpoint: () => cluster.waitForLeader(pointLeaderDeadlineMs),
    // design.md §6: etcd through the etcd3 gRPC client and through its JSON gateway; report the better.
    variants: [
      { client: 'grpc', targets: 'all' },
      { client: 'grpc', targets: 'leader' },
      { client: 'gateway', targets: 'all' },
      { client: 'gateway', targets: 'leader' },
    ],
    failover: etcdFailover(cluster, etcdDefaultTiming, 'etcd defaults'),
  };
}

/**
 * Starts raftkv (and etcd, given its binary) side by side and waits until each has a leader.
 * With `profileDir`, every raftkv node runs under V8's profiler and writes its profiles to
 * <profileDir>/n<id>/ when stopped (stop() then stops raftkv gracefully first).
 */
export async function startSystems(
  etcdBinary: string | undefined,
  startFailureLogDir: string,
  profileDir?: string,
): Promise<RunningSystems> {
  const started: StartedCluster[] = [];
  const stop = async (logDir: string) => {
    await Promise.all(
      started.map(async (cluster) => {
        await keepLogs(cluster, logDir);
        await cluster.destroy();
      }),
    );
  };
  try {
    const raftkv = await RealCluster.start(clusterSize, {
      ...(profileDir ? { runtimeArgsFor: (id) => profilerArgs(join(profileDir, `n${id}`)) } : {}),
    });
    // A profile is written when the process exits, not when it is killed.
    started.push(
      profileDir
        ? { dataDir: raftkv.dataDir, destroy: () => raftkv.stop().then(() => raftkv.destroy()) }
        : raftkv,
    );
    const etcd = etcdBinary ? await EtcdCluster.start(etcdBinary, clusterSize) : undefined;
    if (etcd) started.push(etcd);
    const systems = await Promise.all([raftkvSystem(raftkv), ...(etcd ? [etcdSystem(etcd)] : [])]);
    return {
      systems,
      stop,
      startEtcd: etcdBinary ? (timing, label) => startExtraEtcd(etcdBinary, timing, label) : undefined,
    };
  } catch (error) {
    await stop(startFailureLogDir);
    throw error;
  }
}

/** Node's flags for a sampling CPU profile written to `directory` at exit. */
function profilerArgs(directory: string): string[] {
  return ['--cpu-prof', `--cpu-prof-dir=${directory}`];
}

async function startExtraEtcd(binary: string, timing: RaftTiming, label: string): Promise<ExtraCluster> {
  const cluster = await EtcdCluster.start(binary, clusterSize, timing);
  const stop = async (logDir: string) => {
    await keepLogs(cluster, logDir);
    await cluster.destroy();
  };
  try {
    await cluster.waitForLeader(startLeaderDeadlineMs);
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
  return { subject: etcdFailover(cluster, timing, label), stop };
}
