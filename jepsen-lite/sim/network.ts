// The simulated network: each message gets its own random delay (so messages reorder), may be
// dropped or duplicated, and is lost when its directed link is cut by a partition at delivery
// time. Raft messages are one-way and safe to duplicate (design.md §6), so every one of these
// is a fault the core must survive.
import type { Message, NodeId } from '../../src/raft/messages.js';
import type { Prng } from './prng.js';

export interface NetworkProfile {
  latencyMsMin: number;
  latencyMsMax: number;
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice (each copy with its own delay). */
  duplicateRate: number;
  /** When false, each directed link delivers in send order (TCP-like); when true, delays reorder freely. */
  reorder: boolean;
}

/** A directed link from one node to another. */
export interface Link {
  from: NodeId;
  to: NodeId;
}

/** Node ids stay far below this, so from * linkKeyBase + to names a directed link uniquely. */
const linkKeyBase = 1 << 16;

function linkKey(from: NodeId, to: NodeId): number {
  return from * linkKeyBase + to;
}

export class SimNetwork {
  private readonly blockedLinks = new Set<number>();
  /** For FIFO links (reorder off): the latest delivery time scheduled on each directed link. */
  private readonly lastDeliveryMsByLink = new Map<number, number>();
  messagesSent = 0;
  messagesDropped = 0;
  messagesDuplicated = 0;

  constructor(
    private profile: NetworkProfile,
    private readonly prng: Prng,
  ) {}

  /**
   * The virtual times at which copies of a message just sent arrive: none when it is dropped,
   * two when it is duplicated. Partitions are applied at delivery (see isBlocked).
   */
  deliveryTimesMs(message: Message, nowMs: number): number[] {
    this.messagesSent++;
    if (this.prng.chance(this.profile.dropRate)) {
      this.messagesDropped++;
      return [];
    }
    const copies = this.prng.chance(this.profile.duplicateRate) ? 2 : 1;
    if (copies === 2) this.messagesDuplicated++;
    const times: number[] = [];
    for (let copy = 0; copy < copies; copy++) times.push(this.arrivalMs(message, nowMs));
    return times;
  }

  private arrivalMs(message: Message, nowMs: number): number {
    const arrival = nowMs + this.prng.between(this.profile.latencyMsMin, this.profile.latencyMsMax);
    if (this.profile.reorder) return arrival;
    const key = linkKey(message.from, message.to);
    const inOrder = Math.max(arrival, this.lastDeliveryMsByLink.get(key) ?? 0);
    this.lastDeliveryMsByLink.set(key, inOrder);
    return inOrder;
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blockedLinks.has(linkKey(from, to));
  }

  /** Replaces the current partition with one that cuts exactly these links. */
  partition(links: readonly Link[]): void {
    this.blockedLinks.clear();
    for (const { from, to } of links) this.blockedLinks.add(linkKey(from, to));
  }

  heal(): void {
    this.blockedLinks.clear();
  }

  /** Ends random loss and duplication, for the liveness phase after the faults heal. */
  makeReliable(): void {
    this.profile = { ...this.profile, dropRate: 0, duplicateRate: 0 };
  }
}

// ---- partition shapes (Jepsen's nemesis partitions) ---------------------------------------

export const partitionKinds = ['halves', 'isolateNode', 'majoritiesRing', 'bridge', 'oneWay'] as const;
export type PartitionKind = (typeof partitionKinds)[number];

/** Links cut in both directions between every node of one group and every node of the other. */
function cutBetween(groupA: readonly NodeId[], groupB: readonly NodeId[]): Link[] {
  const links: Link[] = [];
  for (const a of groupA) {
    for (const b of groupB) links.push({ from: a, to: b }, { from: b, to: a });
  }
  return links;
}

/** Two random halves (the larger one holds a majority). */
function halves(nodes: readonly NodeId[], prng: Prng): Link[] {
  const shuffled = prng.shuffled(nodes);
  const cut = Math.floor(nodes.length / 2);
  return cutBetween(shuffled.slice(0, cut), shuffled.slice(cut));
}

/** One node (usually the leader) cut off from every other. */
function isolate(nodes: readonly NodeId[], target: NodeId): Link[] {
  return cutBetween(
    [target],
    nodes.filter((node) => node !== target),
  );
}

/**
 * Every node sees a majority (itself and its nearest neighbours on a shuffled ring), but no
 * two nodes see the same majority: leaders can be elected, but their majorities overlap badly.
 */
function majoritiesRing(nodes: readonly NodeId[], prng: Prng): Link[] {
  const ring = prng.shuffled(nodes);
  const majority = Math.floor(nodes.length / 2) + 1;
  const reach = Math.ceil((majority - 1) / 2);
  const links: Link[] = [];
  ring.forEach((from, i) => {
    ring.forEach((to, j) => {
      const distance = Math.min(Math.abs(i - j), ring.length - Math.abs(i - j));
      if (distance > reach) links.push({ from, to });
    });
  });
  return links;
}

/** Two halves that cannot talk to each other, and one node in the middle that talks to both. */
function bridge(nodes: readonly NodeId[], prng: Prng): Link[] {
  const shuffled = prng.shuffled(nodes);
  const [middle, ...rest] = shuffled;
  if (middle === undefined || rest.length < 2) return [];
  const cut = Math.floor(rest.length / 2);
  return cutBetween(rest.slice(0, cut), rest.slice(cut));
}

/** Random directed links cut one way only: asymmetric faults that CheckQuorum and PreVote must survive. */
function oneWay(nodes: readonly NodeId[], target: NodeId, prng: Prng): Link[] {
  const outbound = prng.chance(0.5);
  return nodes
    .filter((node) => node !== target && prng.chance(0.75))
    .map((other) => (outbound ? { from: target, to: other } : { from: other, to: target }));
}

/** The cut links of one partition of the given kind; `target` is the node the kind centres on. */
export function partitionLinks(
  kind: PartitionKind,
  nodes: readonly NodeId[],
  target: NodeId,
  prng: Prng,
): Link[] {
  switch (kind) {
    case 'halves':
      return halves(nodes, prng);
    case 'isolateNode':
      return isolate(nodes, target);
    case 'majoritiesRing':
      return majoritiesRing(nodes, prng);
    case 'bridge':
      return bridge(nodes, prng);
    case 'oneWay':
      return oneWay(nodes, target, prng);
  }
}

/** A short description of a partition for histories and traces, e.g. "1-2 cut, 3>4 cut". */
export function describeLinks(links: readonly Link[]): string {
  const seen = new Set<number>();
  const parts: string[] = [];
  for (const { from, to } of links) {
    if (seen.has(linkKey(from, to))) continue;
    const symmetric = links.some((link) => link.from === to && link.to === from);
    seen.add(linkKey(from, to));
    if (symmetric) seen.add(linkKey(to, from));
    parts.push(symmetric ? `${Math.min(from, to)}-${Math.max(from, to)}` : `${from}>${to}`);
  }
  return parts.length === 0 ? 'none' : parts.join(' ');
}
