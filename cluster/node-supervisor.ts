// The launcher's hold on its node processes: kill (SIGKILL), pause (SIGSTOP), resume (SIGCONT),
// restart, and isolate a node by cutting every peer link to and from it at the link proxies the
// launcher runs (each node dials its peers through them, see LinkMesh.membersSeenBy).
import type { ChildProcess } from 'node:child_process';
import type { LinkMesh } from '../jepsen-lite/real/link-proxy.js';
import type { Member } from '../src/node/members.js';
import type { EventLog } from './dashboard/event-log.js';

export type ProcessState = 'running' | 'paused' | 'stopping' | 'exited';

export interface NodeProcessView {
  id: number;
  state: ProcessState;
  pid: number | null;
  /** Every peer link to and from the node is cut. */
  isolated: boolean;
  /** How the last process ended (`SIGKILL`, `0`), once it has. */
  exitedWith: string | null;
}

export interface NodeSupervisorOptions {
  members: readonly Member[];
  links: LinkMesh;
  events: EventLog;
  /** Starts node `member` with `view` as its --members (peers reached through the link proxies). */
  spawnNode: (member: Member, view: Member[]) => ChildProcess;
  /** A graceful stop (SIGTERM, then SIGKILL after a while). */
  stopNode: (child: ChildProcess) => Promise<void>;
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export class NodeSupervisor {
  private readonly processes = new Map<number, ChildProcess>();
  private readonly paused = new Set<number>();
  private readonly stopping = new Set<number>();
  private readonly isolated = new Set<number>();
  private readonly exitedWith = new Map<number, string>();

  constructor(private readonly options: NodeSupervisorOptions) {}

  get members(): readonly Member[] {
    return this.options.members;
  }

  member(id: number): Member {
    const member = this.options.members.find((m) => m.id === id);
    if (!member) throw new Error(`no node ${id}`);
    return member;
  }

  state(id: number): ProcessState {
    const child = this.processes.get(id);
    if (!child || hasExited(child)) return 'exited';
    if (this.stopping.has(id)) return 'stopping';
    return this.paused.has(id) ? 'paused' : 'running';
  }

  isIsolated(id: number): boolean {
    return this.isolated.has(id);
  }

  views(): NodeProcessView[] {
    return this.options.members.map(({ id }) => {
      const state = this.state(id);
      return {
        id,
        state,
        pid: state === 'exited' ? null : (this.processes.get(id)?.pid ?? null),
        isolated: this.isolated.has(id),
        exitedWith: this.exitedWith.get(id) ?? null,
      };
    });
  }

  /** Starts the node unless its process is still there. */
  start(id: number): void {
    if (this.state(id) !== 'exited') return;
    const child = this.options.spawnNode(this.member(id), this.options.links.membersSeenBy(id));
    this.processes.set(id, child);
    this.paused.delete(id);
    this.exitedWith.delete(id);
    child.on('error', (error) => this.options.events.add('process', `node ${id}: ${error.message}`, id));
    child.on('exit', (code, signal) => {
      const how = signal ?? String(code);
      this.exitedWith.set(id, how);
      this.options.events.add('process', `node ${id} exited (${how})`, id);
    });
  }

  /** SIGKILL, also for a paused process; resolves once it is gone. */
  async kill(id: number): Promise<void> {
    const child = this.processes.get(id);
    if (!child || hasExited(child)) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.paused.delete(id);
  }

  pause(id: number): void {
    if (this.state(id) !== 'running') return;
    this.processes.get(id)?.kill('SIGSTOP');
    this.paused.add(id);
  }

  resume(id: number): void {
    if (this.state(id) !== 'paused') return;
    this.processes.get(id)?.kill('SIGCONT');
    this.paused.delete(id);
  }

  /** A graceful stop (a leader hands over first), then a fresh process on the same data. */
  async restart(id: number): Promise<void> {
    const child = this.processes.get(id);
    if (child && !hasExited(child) && !this.stopping.has(id)) {
      this.resume(id);
      this.stopping.add(id);
      try {
        await this.options.stopNode(child);
      } finally {
        this.stopping.delete(id);
      }
    }
    this.start(id);
  }

  /** Cuts the node's peer links both ways; clients (and the dashboard) still reach it. */
  isolate(id: number): void {
    const { links } = this.options;
    links.set(
      links.links.filter(([from, to]) => from === id || to === id),
      { kind: 'cut' },
    );
    this.isolated.add(id);
  }

  /** Back to normal: every link passes, paused nodes resume, stopped ones start again. */
  healAll(): void {
    this.reconnectAll();
    for (const { id } of this.options.members) {
      this.resume(id);
      this.start(id);
    }
  }

  /** Stops every node in order, after undoing the faults that would stall a graceful stop. */
  async stopAll(): Promise<void> {
    this.reconnectAll();
    for (const { id } of this.options.members) this.resume(id);
    for (const child of this.processes.values()) await this.options.stopNode(child);
  }

  private reconnectAll(): void {
    this.options.links.healAll();
    this.isolated.clear();
  }
}
