// Polls every node's GET /v1/status on its own loop (a paused node's timeouts never delay the
// others) and turns what it sees into events: a term began, a node became leader.
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { clientUrl, type Member } from '../../src/node/members.js';
import type { EventLog } from './event-log.js';

/** Pause between two polls of one node. */
export const statusPollMs = 200;
/** A node that has not answered within this is "not answering" (paused, overloaded, gone). */
export const statusTimeoutMs = 300;

export interface PolledStatus {
  role: string;
  term: number;
  leaderId: number | null;
  commitIndex: number;
  appliedIndex: number;
}

export interface NodeStatusView {
  /** The last answer, kept while the node does not answer so the page can show what it was. */
  status: PolledStatus | null;
  answering: boolean;
  lastAnswerAtMs: number | null;
  lastError: string | null;
}

export interface LeaderSeen {
  id: number;
  term: number;
}

export interface StatusPollerOptions {
  members: readonly Member[];
  events: EventLog;
  /** False while a node's process is gone: it is not asked, and shows as not answering. */
  isPollable: (id: number) => boolean;
  onLeader?: (leader: LeaderSeen, atMs: number) => void;
  now?: () => number;
}

export class StatusPoller {
  private readonly views = new Map<number, NodeStatusView>();
  // One connection per node: the poller never has more than one request out to each.
  private readonly agent = new Agent({ connections: 1, connectTimeout: statusTimeoutMs });
  private readonly stopping = new AbortController();
  private loops: Promise<void>[] = [];
  private leaderSeen: LeaderSeen | null = null;
  private highestTerm = 0;
  private readonly now: () => number;

  constructor(private readonly options: StatusPollerOptions) {
    this.now = options.now ?? Date.now;
    for (const { id } of options.members)
      this.views.set(id, { status: null, answering: false, lastAnswerAtMs: null, lastError: null });
  }

  start(): void {
    this.loops = this.options.members.map((member) => this.pollLoop(member));
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.loops);
    await this.agent.close();
  }

  view(id: number): NodeStatusView {
    const view = this.views.get(id);
    if (!view) throw new Error(`no node ${id}`);
    return view;
  }

  /** The leader with the highest term among the nodes that answer, if any. */
  leader(): LeaderSeen | null {
    let best: LeaderSeen | null = null;
    for (const [id, view] of this.views) {
      const status = view.status;
      if (!view.answering || status?.role !== 'leader') continue;
      if (!best || status.term > best.term) best = { id, term: status.term };
    }
    return best;
  }

  private async pollLoop(member: Member): Promise<void> {
    const { signal } = this.stopping;
    while (!signal.aborted) {
      if (this.options.isPollable(member.id)) await this.pollOnce(member);
      else this.view(member.id).answering = false;
      this.noticeChanges();
      await sleep(statusPollMs, undefined, { signal }).catch(() => {});
    }
  }

  private async pollOnce(member: Member): Promise<void> {
    const view = this.view(member.id);
    try {
      const response = await request(`${clientUrl(member)}/v1/status`, {
        dispatcher: this.agent,
        headersTimeout: statusTimeoutMs,
        bodyTimeout: statusTimeoutMs,
        signal: this.stopping.signal,
      });
      const body = (await response.body.json()) as PolledStatus;
      if (response.statusCode !== 200) throw new Error(`status ${response.statusCode}`);
      const { role, term, leaderId, commitIndex, appliedIndex } = body;
      view.status = { role, term, leaderId, commitIndex, appliedIndex };
      view.answering = true;
      view.lastAnswerAtMs = this.now();
      view.lastError = null;
    } catch (error) {
      view.answering = false;
      view.lastError = (error as Error).message;
    }
  }

  private noticeChanges(): void {
    for (const [id, view] of this.views) {
      const status = view.status;
      if (!view.answering || !status || status.term <= this.highestTerm) continue;
      if (this.highestTerm > 0)
        this.options.events.add('term', `term ${status.term} began (node ${id} is ${status.role})`, id);
      this.highestTerm = status.term;
    }
    const leader = this.leader();
    if (!leader || (leader.id === this.leaderSeen?.id && leader.term === this.leaderSeen.term)) return;
    this.leaderSeen = leader;
    this.options.events.add('leader', `node ${leader.id} is leader of term ${leader.term}`, leader.id);
    this.options.onLeader?.(leader, this.now());
  }
}
