// One TCP proxy per DIRECTED peer link (node i dialling node j's peer port), so each direction
// can be cut, delayed or made lossy on its own (design.md §6 "Peer RPC": messages are one-way,
// a Raft response travels on the other link). The node dials its peers at the addresses in its
// own --members, so node i is told that peer j lives at the proxy for (i -> j).
//
// Only the dialler-to-target bytes are shaped: on a peer link they carry every Raft message,
// while the bytes coming back are the target's bare 204 acknowledgements.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { assert } from '../../src/assert.js';
import type { Member } from '../../src/node/members.js';

export type LinkMode =
  | { kind: 'pass' }
  /** Refuses new connections, kills open ones and drops the bytes they had in flight. */
  | { kind: 'cut' }
  /** Every byte arrives `delayMs` late, in order. */
  | { kind: 'delay'; delayMs: number }
  /** Each chunk (and each new connection) is lost with this probability, killing its connection. */
  | { kind: 'loss'; dropProbability: number };

export const passMode: LinkMode = { kind: 'pass' };

/** Open connections through one link; beyond it new ones are refused (a node keeps one or two). */
export const linkConnectionsMax = 64;
/** Bytes a delayed connection holds back before it stops reading from the dialler. */
export const delayedBytesMax = 8 * 1024 * 1024;
/** Longer delays would only trip the transport's request timeouts. */
export const linkDelayMsMax = 10_000;

function validateMode(mode: LinkMode): LinkMode {
  if (mode.kind === 'delay')
    assert(
      Number.isFinite(mode.delayMs) && mode.delayMs >= 0 && mode.delayMs <= linkDelayMsMax,
      () => `delayMs ${mode.delayMs} must be in [0, ${linkDelayMsMax}]`,
    );
  if (mode.kind === 'loss')
    assert(
      mode.dropProbability >= 0 && mode.dropProbability <= 1,
      () => `dropProbability ${mode.dropProbability} must be in [0, 1]`,
    );
  return mode;
}

interface DelayedChunk {
  chunk: Buffer;
  dueMs: number;
}

/** One dialler connection and its connection to the target, shaped by its link's mode. */
class ProxiedConnection {
  private readonly delayed: DelayedChunk[] = [];
  private delayedBytes = 0;
  /** Chunks never overtake each other, even when the delay shrinks. */
  private lastDueMs = 0;
  private releaseTimer: NodeJS.Timeout | undefined;
  private waitingForDrain = false;

  constructor(
    private readonly dialler: Socket,
    private readonly target: Socket,
    private readonly link: LinkProxy,
  ) {
    dialler.on('data', (chunk: Buffer) => this.fromDialler(chunk));
    target.on('data', (chunk: Buffer) => {
      if (!dialler.write(chunk)) target.pause();
    });
    dialler.on('drain', () => target.resume());
    target.on('drain', () => this.targetDrained());
    for (const socket of [dialler, target]) {
      socket.on('error', () => this.destroy());
      socket.on('close', () => this.destroy());
    }
  }

  destroy(): void {
    clearTimeout(this.releaseTimer);
    this.delayed.length = 0;
    this.dialler.destroy();
    this.target.destroy();
    this.link.forget(this);
  }

  private fromDialler(chunk: Buffer): void {
    const mode = this.link.mode;
    if (mode.kind === 'cut' || (mode.kind === 'loss' && this.link.random() < mode.dropProbability)) {
      this.destroy();
      return;
    }
    const delayMs = mode.kind === 'delay' ? mode.delayMs : 0;
    if (delayMs === 0 && this.delayed.length === 0 && !this.waitingForDrain) {
      if (!this.target.write(chunk)) this.startWaitingForDrain();
      return;
    }
    this.lastDueMs = Math.max(this.lastDueMs, performance.now() + delayMs);
    this.delayed.push({ chunk, dueMs: this.lastDueMs });
    this.delayedBytes += chunk.length;
    if (this.delayedBytes > delayedBytesMax) this.dialler.pause();
    this.scheduleRelease();
  }

  private startWaitingForDrain(): void {
    this.waitingForDrain = true;
    this.dialler.pause();
  }

  private targetDrained(): void {
    this.waitingForDrain = false;
    this.release();
  }

  private scheduleRelease(): void {
    if (this.releaseTimer !== undefined || this.waitingForDrain) return;
    const head = this.delayed[0];
    if (head === undefined) return;
    this.releaseTimer = setTimeout(
      () => {
        this.releaseTimer = undefined;
        this.release();
      },
      Math.max(0, head.dueMs - performance.now()),
    );
  }

  /** Writes every chunk that is due, in order, until the target pushes back. */
  private release(): void {
    const nowMs = performance.now();
    while (!this.waitingForDrain && this.delayed.length > 0 && this.delayed[0]!.dueMs <= nowMs) {
      const { chunk } = this.delayed.shift()!;
      this.delayedBytes -= chunk.length;
      if (!this.target.write(chunk)) this.startWaitingForDrain();
    }
    if (!this.waitingForDrain && this.delayedBytes <= delayedBytesMax) this.dialler.resume();
    this.scheduleRelease();
  }
}

export interface LinkProxyOptions {
  from: number;
  to: number;
  target: { host: string; port: number };
  /** Draws for lossy links: [0, 1). */
  random?: () => number;
}

/** The proxy of one directed link, listening on a port of its own on 127.0.0.1. */
export class LinkProxy {
  private currentMode: LinkMode = passMode;
  private readonly connections = new Set<ProxiedConnection>();
  readonly from: number;
  readonly to: number;
  readonly random: () => number;

  private constructor(
    options: LinkProxyOptions,
    private readonly server: Server,
    readonly port: number,
  ) {
    this.from = options.from;
    this.to = options.to;
    this.random = options.random ?? Math.random;
  }

  static async start(options: LinkProxyOptions): Promise<LinkProxy> {
    const server = createServer({ noDelay: true });
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        if (typeof address === 'object' && address) resolve(address.port);
        else reject(new Error('link proxy has no port'));
      });
    });
    const proxy = new LinkProxy(options, server, port);
    server.on('connection', (socket) => proxy.accept(socket, options.target));
    return proxy;
  }

  get mode(): LinkMode {
    return this.currentMode;
  }

  get openConnections(): number {
    return this.connections.size;
  }

  /** A cut also kills the connections already open: the peer RPC keeps its connection alive. */
  setMode(mode: LinkMode): void {
    this.currentMode = validateMode(mode);
    if (mode.kind === 'cut') for (const connection of [...this.connections]) connection.destroy();
  }

  forget(connection: ProxiedConnection): void {
    this.connections.delete(connection);
  }

  async close(): Promise<void> {
    for (const connection of [...this.connections]) connection.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(dialler: Socket, target: { host: string; port: number }): void {
    const mode = this.currentMode;
    const refused =
      mode.kind === 'cut' ||
      (mode.kind === 'loss' && this.random() < mode.dropProbability) ||
      this.connections.size >= linkConnectionsMax;
    if (refused) {
      dialler.destroy();
      return;
    }
    dialler.setNoDelay(true);
    const upstream = connect({ host: target.host, port: target.port, noDelay: true });
    this.connections.add(new ProxiedConnection(dialler, upstream, this));
  }
}

/** A directed link: `from` dials `to`. */
export type Link = readonly [from: number, to: number];

/** A proxy for every directed link between the members of a cluster. */
export class LinkMesh {
  private constructor(
    private readonly members: readonly Member[],
    private readonly proxies: Map<string, LinkProxy>,
  ) {}

  static async start(members: readonly Member[], random?: () => number): Promise<LinkMesh> {
    const proxies = new Map<string, LinkProxy>();
    try {
      for (const from of members)
        for (const to of members) {
          if (from.id === to.id) continue;
          const target = { host: to.host, port: to.peerPort };
          proxies.set(
            linkName([from.id, to.id]),
            await LinkProxy.start({ from: from.id, to: to.id, target, random }),
          );
        }
    } catch (error) {
      await Promise.all([...proxies.values()].map((proxy) => proxy.close()));
      throw error;
    }
    return new LinkMesh(members, proxies);
  }

  /** Node `id`'s --members: its own entry as it is, every peer's peer port its proxy for (id -> peer). */
  membersSeenBy(id: number): Member[] {
    return this.members.map((member) =>
      member.id === id ? member : { ...member, peerPort: this.proxy([id, member.id]).port },
    );
  }

  proxy(link: Link): LinkProxy {
    const proxy = this.proxies.get(linkName(link));
    if (!proxy) throw new Error(`no link ${linkName(link)}`);
    return proxy;
  }

  get links(): Link[] {
    return [...this.proxies.values()].map((proxy) => [proxy.from, proxy.to] as const);
  }

  set(links: readonly Link[], mode: LinkMode): void {
    for (const link of links) this.proxy(link).setMode(mode);
  }

  healAll(): void {
    this.set(this.links, passMode);
  }

  async close(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((proxy) => proxy.close()));
  }
}

export function linkName([from, to]: Link): string {
  return `${from}->${to}`;
}
