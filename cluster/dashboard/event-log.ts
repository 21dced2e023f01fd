// What happened to the cluster, newest last: faults pressed on the dashboard, processes exiting,
// terms and leaders seen by the status poller, failovers timed. Kept bounded; pushed live to
// every dashboard page (SSE) and printed on the launcher's terminal.

export type EventKind = 'fault' | 'process' | 'term' | 'leader' | 'load' | 'failover';

export interface ClusterEvent {
  /** Increases by one per event, so a page can tell which events it already has. */
  seq: number;
  atMs: number;
  kind: EventKind;
  text: string;
  /** The node the event is about, when there is one. */
  nodeId?: number;
}

/** Events kept for pages that connect later; older ones are dropped. */
export const eventsKept = 500;

export type EventListener = (event: ClusterEvent) => void;

export class EventLog {
  private readonly kept: ClusterEvent[] = [];
  private readonly listeners = new Set<EventListener>();
  private nextSeq = 1;

  constructor(private readonly now: () => number = Date.now) {}

  add(kind: EventKind, text: string, nodeId?: number): ClusterEvent {
    const event: ClusterEvent = { seq: this.nextSeq++, atMs: this.now(), kind, text };
    if (nodeId !== undefined) event.nodeId = nodeId;
    this.kept.push(event);
    if (this.kept.length > eventsKept) this.kept.shift();
    for (const listener of this.listeners) listener(event);
    return event;
  }

  recent(): readonly ClusterEvent[] {
    return this.kept;
  }

  /** Returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** `12:01:03.120` in the launcher's local time: the form the failover summaries use. */
export function formatClock(atMs: number): string {
  const at = new Date(atMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}.${String(at.getMilliseconds()).padStart(3, '0')}`;
}
