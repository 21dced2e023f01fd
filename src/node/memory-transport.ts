// An in-process network for the simulator and tests (hashicorp raft's InmemTransport). Every
// batch goes through the same codec and Inbox as HTTP, so the bytes on this "wire" are the real
// ones; links are directed, so a test can cut one direction of a pair on its own.
import { assert } from '../assert.js';
import { encodeMessages, type Message, type NodeId } from '../raft/messages.js';
import { emptyTransportStats, Inbox } from './inbox.js';
import type { MessageHandler, SendOptions, Transport, TransportStats } from './transport.js';

/**
 * Messages one directed link holds in flight before it drops new ones, so a receiver that is
 * slow to drain its event loop cannot grow memory without bound (the HTTP peer queue's twin).
 */
export const linkInFlightMessagesMax = 4096;

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}->${to}`;
}

/** The hub: one MemoryTransport per node id, and the set of directed links that are cut. */
export class MemoryNetwork {
  private readonly transports = new Map<NodeId, MemoryTransport>();
  private readonly cutLinks = new Set<string>();

  /** A transport for node `id`; a node that restarts gets a new one once the old one is closed. */
  transport(id: NodeId): MemoryTransport {
    assert(!this.transports.get(id)?.isOpen(), `node ${id} already has an open memory transport`);
    const transport = new MemoryTransport(id, this);
    this.transports.set(id, transport);
    return transport;
  }

  /** Drops every message from `from` to `to` (batches already in flight included) until healed. */
  cut(from: NodeId, to: NodeId): void {
    this.cutLinks.add(linkKey(from, to));
  }

  /** Heals the link from `from` to `to`, or every link when called without arguments. */
  heal(from?: NodeId, to?: NodeId): void {
    if (from === undefined || to === undefined) {
      this.cutLinks.clear();
      return;
    }
    this.cutLinks.delete(linkKey(from, to));
  }

  /** The inbox a batch from `from` to `to` lands in now, or null when it is lost on the way. */
  reachableInbox(from: NodeId, to: NodeId): Inbox | null {
    if (this.cutLinks.has(linkKey(from, to))) return null;
    const receiver = this.transports.get(to);
    return receiver?.isOpen() ? receiver.inbox : null;
  }
}

export class MemoryTransport implements Transport {
  readonly inbox: Inbox;
  private readonly counters = emptyTransportStats();
  /** Peers this node was told about; like a real node, it cannot reach a peer it has no address for. */
  private readonly knownPeers = new Set<NodeId>();
  /** Messages per destination handed to setImmediate and not yet delivered or dropped. */
  private readonly inFlightMessages = new Map<NodeId, number>();
  private closed = false;

  constructor(
    readonly id: NodeId,
    private readonly network: MemoryNetwork,
  ) {
    this.inbox = new Inbox(id, this.counters);
  }

  isOpen(): boolean {
    return !this.closed;
  }

  /** Each call goes out as its own delivery per destination, so `now` changes nothing here. */
  send(messages: readonly Message[], _options?: SendOptions): void {
    for (const [to, batch] of groupByDestination(messages)) this.sendBatch(to, batch);
  }

  onMessages(handler: MessageHandler): void {
    this.inbox.setHandler(handler);
  }

  /** The hub routes by id, so the address itself is not used; knowing the peer is what counts. */
  setPeer(id: NodeId, _address: string): void {
    this.knownPeers.add(id);
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.inbox.close();
  }

  private sendBatch(to: NodeId, batch: Message[]): void {
    const inFlight = this.inFlightMessages.get(to) ?? 0;
    const room = this.closed || !this.knownPeers.has(to) ? 0 : linkInFlightMessagesMax - inFlight;
    const accepted = batch.slice(0, Math.max(0, room));
    this.counters.dropped += batch.length - accepted.length;
    if (accepted.length === 0) return;
    const bytes = encodeMessages(accepted);
    this.inFlightMessages.set(to, inFlight + accepted.length);
    // setImmediate rather than a microtask: two nodes answering each other must still let
    // timers and I/O run between deliveries, as they would on a real network.
    setImmediate(() => this.deliver(to, bytes, accepted.length));
  }

  private deliver(to: NodeId, bytes: Uint8Array, messageCount: number): void {
    this.inFlightMessages.set(to, (this.inFlightMessages.get(to) ?? 0) - messageCount);
    const inbox = this.network.reachableInbox(this.id, to);
    if (inbox === null) {
      this.counters.dropped += messageCount;
      return;
    }
    this.counters.sent += messageCount;
    inbox.receiveBatch(bytes);
  }
}

/** Splits messages into one batch per destination, keeping their order within each batch. */
function groupByDestination(messages: readonly Message[]): Map<NodeId, Message[]> {
  const batches = new Map<NodeId, Message[]>();
  for (const message of messages) {
    const batch = batches.get(message.to);
    if (batch === undefined) batches.set(message.to, [message]);
    else batch.push(message);
  }
  return batches;
}
