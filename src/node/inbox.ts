// The receiving end every transport shares, so the memory and HTTP transports decode, filter and
// count incoming batches the same way: the simulator then exercises exactly what a real node does.
import { decodeMessages, type NodeId } from '../raft/messages.js';
import type { MessageHandler, TransportStats } from './transport.js';

export class Inbox {
  private handler: MessageHandler | null = null;
  private closed = false;

  constructor(
    readonly nodeId: NodeId,
    /** Shared with the owning transport: received, dropped and malformed are counted here. */
    private readonly counters: TransportStats,
  ) {}

  setHandler(handler: MessageHandler): void {
    this.handler = handler;
  }

  /** After close nothing more reaches the handler: a stopped node must not be stepped. */
  close(): void {
    this.closed = true;
  }

  /**
   * Decodes one batch and hands the messages addressed to this node to the handler, in order.
   * Throws MalformedMessageError when the batch does not decode (the caller refuses and counts
   * it); messages for another node (a peer with a stale address book) and messages that find no
   * open handler are dropped and counted.
   */
  receiveBatch(bytes: Uint8Array): void {
    const messages = decodeMessages(bytes);
    const addressed = messages.filter((message) => message.to === this.nodeId);
    this.counters.dropped += messages.length - addressed.length;
    if (addressed.length === 0) return;
    if (this.handler === null || this.closed) {
      this.counters.dropped += addressed.length;
      return;
    }
    this.counters.received += addressed.length;
    this.handler(addressed);
  }

  /** Counts a request refused as malformed (undecodable batch, wrong content type, body too large). */
  countMalformed(): void {
    this.counters.malformed += 1;
  }
}

/**
 * Sending side: every message given to send() is counted once, in `sent` when the peer took it or
 * in `dropped`. Receiving side: `received` reached the handler, `dropped` did not, `malformed`
 * counts refused requests (batches, not messages).
 */
export function emptyTransportStats(): TransportStats {
  return { sent: 0, dropped: 0, received: 0, malformed: 0 };
}
