// A fresh local etcd cluster to bench beside raftkv: one `etcd` process per member on free
// loopback ports, fresh data dirs, fsync on (etcd's default), explicit Raft timing.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, constants, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { stopNodeProcess } from '../cluster/launcher.js';
import { freePorts } from '../jepsen-lite/real/ports.js';
import { waitFor } from '../jepsen-lite/real/real-cluster.js';

/** The exact command that installs etcd where the project runs (Debian). */
export const etcdInstallCommand = 'apt-get install -y etcd-server etcd-client';
/** A Raft timing: etcd draws each election timeout in [electionTimeoutMs, 2 * electionTimeoutMs), as raftkv does. */
export interface RaftTiming {
  heartbeatMs: number;
  electionTimeoutMs: number;
}

/** etcd's own defaults, passed explicitly so the compared settings are visible in one place. */
export const etcdHeartbeatMs = 100;
export const etcdElectionTimeoutMs = 1000;
export const etcdDefaultTiming: RaftTiming = {
  heartbeatMs: etcdHeartbeatMs,
  electionTimeoutMs: etcdElectionTimeoutMs,
};
/** How long one status probe may take while waiting for the cluster. */
const statusTimeoutMs = 2_000;

/** The `etcd` server binary on PATH, or undefined when etcd is not installed. */
export function findEtcdBinary(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const candidate = join(dir, 'etcd');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
}

/** What every member's command line shares, kept to restart a member the same way. */
interface EtcdLaunch {
  binary: string;
  initialCluster: string;
  clusterToken: string;
  dataDir: string;
  timing: RaftTiming;
}

/** One member's view, as far as the bench needs it (`leaderIndex` undefined: no leader it can name). */
export interface EtcdMemberState {
  term: number;
  leaderIndex: number | undefined;
  appliedIndex: number;
}

export class EtcdCluster {
  private constructor(
    private readonly members: EtcdMember[],
    private readonly launch: EtcdLaunch,
    private readonly processes: ChildProcess[],
  ) {}

  get dataDir(): string {
    return this.launch.dataDir;
  }

  static async start(binary: string, nodes = 5, timing = etcdDefaultTiming): Promise<EtcdCluster> {
    const ports = await freePorts(nodes * 2);
    const members = Array.from({ length: nodes }, (_, i) => ({
      name: `e${i + 1}`,
      clientUrl: `http://127.0.0.1:${ports[i]}`,
      peerUrl: `http://127.0.0.1:${ports[nodes + i]}`,
    }));
    const dataDir = await mkdtemp(join(tmpdir(), 'raftkv-bench-etcd-'));
    const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
    const clusterToken = `raftkv-bench-${randomUUID()}`;
    const launch = { binary, initialCluster, clusterToken, dataDir, timing };
    const processes = members.map((member) => startEtcd(launch, member));
    return new EtcdCluster(members, launch, processes);
  }

  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  pids(): number[] {
    return this.processes.flatMap((child) => (child.pid === undefined ? [] : [child.pid]));
  }

  /** The client URL of the leader that every member agrees on. */
  async waitForLeader(deadlineMs = 30_000): Promise<string> {
    return waitFor('an etcd leader', deadlineMs, async () => {
      const statuses = await Promise.all(this.endpoints.map(memberStatus));
      const leaders = new Set(statuses.map((s) => s.leader));
      const [leader] = leaders;
      if (leaders.size !== 1 || !leader || leader === '0') return undefined;
      return this.endpoints[statuses.findIndex((s) => s.header.member_id === leader)];
    });
  }

  /** SIGKILL one member (by its index in `endpoints`); waits until the process is gone. */
  async kill(index: number): Promise<void> {
    const child = this.processes[index]!;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Starts a killed member again on its data dir (etcd ignores --initial-cluster then). */
  restart(index: number): void {
    this.processes[index] = startEtcd(this.launch, this.members[index]!);
  }

  memberName(index: number): string {
    return this.members[index]!.name;
  }

  memberDataDir(index: number): string {
    return join(this.launch.dataDir, this.members[index]!.name);
  }

  /** etcd's own health check (`GET /health`): it has a leader, no alarm, and a quorum read through it succeeds. */
  async isHealthy(index: number, timeoutMs: number): Promise<boolean> {
    try {
      const answer = await request(`${this.endpoints[index]}/health`, {
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const body = (await answer.body.json()) as { health?: unknown };
      return answer.statusCode === 200 && body.health === 'true';
    } catch {
      return false;
    }
  }

  /** Every member's state in `endpoints` order; undefined for a member that did not answer. */
  async memberStates(): Promise<(EtcdMemberState | undefined)[]> {
    const settled = await Promise.allSettled(this.endpoints.map(memberStatus));
    const statuses = settled.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
    const indexOfId = (memberId: string) => statuses.findIndex((s) => s?.header.member_id === memberId);
    return statuses.map((status) => {
      if (!status) return undefined;
      const leaderIndex = indexOfId(status.leader);
      return {
        term: Number(status.raftTerm),
        leaderIndex: leaderIndex < 0 ? undefined : leaderIndex,
        appliedIndex: Number(status.raftAppliedIndex ?? status.raftIndex),
      };
    });
  }

  async destroy(): Promise<void> {
    await Promise.all(this.processes.map((child) => stopNodeProcess(child)));
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

function startEtcd(launch: EtcdLaunch, member: EtcdMember): ChildProcess {
  const { binary, initialCluster, clusterToken, dataDir, timing } = launch;
  const log = openSync(join(dataDir, `${member.name}.log`), 'a');
  const args = [
    ['--name', member.name],
    ['--data-dir', join(dataDir, member.name)],
    ['--listen-client-urls', member.clientUrl],
    ['--advertise-client-urls', member.clientUrl],
    ['--listen-peer-urls', member.peerUrl],
    ['--initial-advertise-peer-urls', member.peerUrl],
    ['--initial-cluster', initialCluster],
    ['--initial-cluster-state', 'new'],
    ['--initial-cluster-token', clusterToken],
    ['--heartbeat-interval', String(timing.heartbeatMs)],
    ['--election-timeout', String(timing.electionTimeoutMs)],
    ['--logger', 'zap'],
  ].flat();
  // Its own process group, like raftkv's nodes: the bench stops both clusters in order on Ctrl-C.
  return spawn(binary, args, { detached: true, stdio: ['ignore', log, log] });
}

/** 64-bit numbers come as strings; raftAppliedIndex is missing before etcd 3.4. */
interface EtcdStatus {
  header: { member_id: string };
  leader: string;
  raftIndex: string;
  raftTerm: string;
  raftAppliedIndex?: string;
}

/** A member's status through etcd's JSON gateway (64-bit ids come as strings). */
async function memberStatus(clientUrl: string): Promise<EtcdStatus> {
  const response = await request(`${clientUrl}/v3/maintenance/status`, {
    method: 'POST',
    body: '{}',
    headersTimeout: statusTimeoutMs,
    bodyTimeout: statusTimeoutMs,
  });
  if (response.statusCode !== 200) throw new Error(`${clientUrl} answered ${response.statusCode}`);
  return (await response.body.json()) as EtcdStatus;
}
