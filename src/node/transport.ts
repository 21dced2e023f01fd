// How a node's Raft messages reach its peers. Messages are one-way and safe to lose, duplicate
// or reorder (Raft copes), so a transport never blocks the core: when a peer is slow or down,
// its bounded queue drops. memory-transport.ts (simulator, tests) and http-transport.ts (real
// nodes) implement it side by side and pass transport.contract.ts.
import type { Message, NodeId } from '../raft/messages.js';

export type MessageHandler = (messages: Message[]) => void;

export interface TransportStats {
  sent: number;
  dropped: number;
  received: number;
  malformed: number;
}

export interface SendOptions {
  /**
   * Start sending now rather than with the rest of this event-loop turn's messages: one fewer
   * turn of latency, one more frame. A transport that sends each call on its own ignores it.
   */
  now?: boolean;
}

export interface Transport {
  /** Queues messages for their destinations; returns at once. */
  send(messages: readonly Message[], options?: SendOptions): void;
  /** Sets the one handler that receives every message addressed to this node. */
  onMessages(handler: MessageHandler): void;
  /** Sets or changes where a peer is dialled (membership changes, address updates). */
  setPeer(id: NodeId, address: string): void;
  stats(): TransportStats;
  close(): Promise<void>;
}
