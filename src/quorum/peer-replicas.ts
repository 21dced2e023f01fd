// Peers as quorum-read replicas: `POST /quorum/read` on each peer's peer port, msgpack both ways,
// over one undici Agent that keeps connections to every peer open.
import { Agent, request } from 'undici';
import type { PeerAuth } from '../node/peer-auth.js';
import type { NodeId } from '../raft/messages.js';
import type { Replica } from './quorum-read.js';
import type { ReplicaAnswer } from './quorum-rule.js';
import {
  packQuorumMessage,
  parseReplicaAnswer,
  quorumReadContentType,
  quorumReadPath,
  unpackQuorumMessage,
} from './replica-answer.js';

/** Open connections to one peer: reads in flight to it beyond this wait for a free one. */
const connectionsPerPeerMax = 64;
const connectTimeoutMs = 1_000;
/** An idle connection to a peer is closed after this long. */
const keepAliveTimeoutMs = 10_000;

export class PeerReplicas {
  private readonly agent: Agent;
  private readonly scheme: 'http' | 'https';

  /** `tls`: peers' peer ports speak TLS, with certificates signed by `ca`. */
  constructor(
    private readonly auth: PeerAuth,
    tls?: { ca: string | Buffer },
  ) {
    this.scheme = tls ? 'https' : 'http';
    this.agent = new Agent({
      connections: connectionsPerPeerMax,
      connectTimeout: connectTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      ...(tls ? { connect: { ca: tls.ca } } : {}),
    });
  }

  /** The peer `id`, reached at `address` (`host:peerPort`). */
  replica(id: NodeId, address: string): Replica {
    const url = `${this.scheme}://${address}${quorumReadPath}`;
    return { id, ask: (key, timeoutMs) => this.ask(id, url, key, timeoutMs) };
  }

  private async ask(id: NodeId, url: string, key: string, timeoutMs: number): Promise<ReplicaAnswer> {
    // undici reads a timeout of 0 as "none".
    const timeout = Math.max(1, Math.ceil(timeoutMs));
    const body = packQuorumMessage({ key });
    const response = await request(url, {
      method: 'POST',
      dispatcher: this.agent,
      headers: {
        'content-type': quorumReadContentType,
        accept: quorumReadContentType,
        ...this.auth.headers('POST', quorumReadPath, body),
      },
      body,
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    const bytes = new Uint8Array(await response.body.arrayBuffer());
    if (response.statusCode !== 200) throw new Error(`replica ${id} answered HTTP ${response.statusCode}`);
    return parseReplicaAnswer(unpackQuorumMessage(bytes), id);
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
