// Real node processes for tests and jepsen-lite: start, SIGKILL, SIGSTOP/SIGCONT, restart, and
// wait for behaviour with generous deadlines. One harness for every real-cluster test.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startNodeProcess, stopNodeProcess } from '../../cluster/launcher.js';
import type { Member } from '../../src/node/members.js';
import { LinkMesh } from './link-proxy.js';
import { freePortBlock } from './ports.js';

export interface NodeStatus {
  id: number;
  role: string;
  term: number;
  leaderId: number | null;
  commitIndex: number;
  appliedIndex: number;
}

/** Polling interval of waitFor. */
const pollMs = 50;

export async function waitFor<T>(
  what: string,
  deadlineMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  throw new Error(
    `timed out after ${deadlineMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
  );
}

export interface RealClusterOptions {
  /**
   * Route every directed peer link through its own proxy (`links`), so that each direction
   * can be cut, delayed or made lossy. Clients still reach the nodes directly.
   */
  proxies?: boolean;
  /** Flags added to every node's command line (planted bugs, fault injection). */
  nodeFlags?: readonly string[];
  /** Draws for lossy links: [0, 1). */
  random?: () => number;
  /** Flags for one node only, after nodeFlags (a node with another secret, say). */
  nodeFlagsFor?: (id: number) => readonly string[];
  /** The nodes serve https (started with --tls-cert): clients check their certificates against `ca`. */
  tlsCa?: Buffer;
  /** Node's own flags for one node's process (before the script), e.g. --cpu-prof. */
  runtimeArgsFor?: (id: number) => readonly string[];
}

export class RealCluster {
  private readonly processes = new Map<number, ChildProcess>();
  /** With TLS: the dispatcher that trusts the nodes' certificates (tests use it for their own requests too). */
  readonly dispatcher: Agent | undefined;

  private constructor(
    readonly members: Member[],
    readonly dataDir: string,
    /** The proxies of every directed peer link, when started with `proxies: true`. */
    readonly links: LinkMesh | undefined,
    private readonly options: RealClusterOptions,
  ) {
    this.dispatcher = options.tlsCa ? new Agent({ connect: { ca: options.tlsCa } }) : undefined;
  }

  static async start(nodes = 5, options: RealClusterOptions = {}): Promise<RealCluster> {
    // Below the ephemeral range: a killed node's port must still be free when it restarts, and
    // the many outgoing connections of clients and link proxies draw from the ephemeral range.
    const basePort = await freePortBlock(nodes * 2);
    const members = Array.from({ length: nodes }, (_, i) => ({
      id: i + 1,
      host: '127.0.0.1',
      clientPort: basePort + i,
      peerPort: basePort + nodes + i,
    }));
    const dataDir = await mkdtemp(join(tmpdir(), 'raftkv-real-'));
    const links = options.proxies ? await LinkMesh.start(members, options.random) : undefined;
    const cluster = new RealCluster(members, dataDir, links, options);
    for (const member of members) cluster.startNode(member.id);
    return cluster;
  }

  url(id: number): string {
    const member = this.members.find((m) => m.id === id);
    if (!member) throw new Error(`no node ${id}`);
    return `${this.options.tlsCa ? 'https' : 'http'}://${member.host}:${member.clientPort}`;
  }

  startNode(id: number): void {
    const member = this.members.find((m) => m.id === id)!;
    const view = this.links?.membersSeenBy(id) ?? this.members;
    const flags = [...(this.options.nodeFlags ?? []), ...(this.options.nodeFlagsFor?.(id) ?? [])];
    const runtimeArgs = this.options.runtimeArgsFor?.(id) ?? [];
    this.processes.set(id, startNodeProcess(member, view, this.dataDir, flags, runtimeArgs));
  }

  isRunning(id: number): boolean {
    const child = this.processes.get(id);
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** SIGKILL: the node gets no warning; waits until the process is gone. */
  async kill(id: number): Promise<void> {
    const child = this.processes.get(id);
    if (!child || !this.isRunning(id)) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM: a graceful stop; resolves with the exit code. */
  async terminate(id: number): Promise<number | null> {
    const child = this.processes.get(id);
    if (!child || !this.isRunning(id)) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    return exited;
  }

  pause(id: number): void {
    this.processes.get(id)?.kill('SIGSTOP');
  }

  resume(id: number): void {
    this.processes.get(id)?.kill('SIGCONT');
  }

  async status(id: number): Promise<NodeStatus> {
    const response = await request(`${this.url(id)}/v1/status`, {
      dispatcher: this.dispatcher,
      headersTimeout: 2_000,
      bodyTimeout: 2_000,
    });
    return (await response.body.json()) as NodeStatus;
  }

  /** The leader that a majority of running nodes agree on. */
  async waitForLeader(deadlineMs = 20_000, except?: number): Promise<number> {
    return waitFor('a leader', deadlineMs, async () => {
      const statuses = await this.runningStatuses();
      const leader = statuses.find((s) => s.role === 'leader' && s.id !== except);
      if (!leader) return undefined;
      const followers = statuses.filter((s) => s.leaderId === leader.id && s.term === leader.term);
      return followers.length > this.members.length / 2 ? leader.id : undefined;
    });
  }

  private async runningStatuses(): Promise<NodeStatus[]> {
    const ids = this.members.map((m) => m.id).filter((id) => this.isRunning(id));
    const settled = await Promise.allSettled(ids.map((id) => this.status(id)));
    return settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  }

  /** Every running node has applied the same index, at least `minIndex`. */
  async waitForConvergence(minIndex: number, deadlineMs = 30_000): Promise<number> {
    return waitFor('all nodes to apply the same index', deadlineMs, async () => {
      const statuses = await this.runningStatuses();
      const running = this.members.filter((m) => this.isRunning(m.id)).length;
      if (statuses.length !== running) return undefined;
      const applied = new Set(statuses.map((s) => s.appliedIndex));
      const [index] = [...applied];
      return applied.size === 1 && index! >= minIndex ? index : undefined;
    });
  }

  async stop(): Promise<void> {
    for (const [id, child] of this.processes) {
      this.resume(id);
      await stopNodeProcess(child);
    }
    await this.links?.close();
  }

  async destroy(): Promise<void> {
    for (const id of this.processes.keys()) await this.kill(id);
    await this.links?.close();
    await this.dispatcher?.close();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
