import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LinkMesh, LinkProxy } from './link-proxy.js';

/** A target that answers every chunk with the same bytes, upper-cased. */
async function startShoutServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.on('data', (chunk) => socket.write(chunk.toString().toUpperCase()));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return { server, port: address.port };
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends `text` and waits for the answer; rejects when the connection dies first. */
function roundTrip(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (chunk) => resolve(chunk.toString()));
    socket.once('close', () => reject(new Error('closed')));
    socket.write(text);
  });
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  });
}

describe('LinkProxy', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setUp(random?: () => number) {
    const { server, port } = await startShoutServer();
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const proxy = await LinkProxy.start({ from: 1, to: 2, target: { host: '127.0.0.1', port }, random });
    cleanups.push(() => proxy.close());
    return proxy;
  }

  async function dialThrough(proxy: LinkProxy): Promise<Socket> {
    const socket = await dial(proxy.port);
    socket.on('error', () => {});
    cleanups.push(() => void socket.destroy());
    return socket;
  }

  it('passes bytes both ways', async () => {
    const proxy = await setUp();
    const socket = await dialThrough(proxy);
    expect(await roundTrip(socket, 'hello')).toBe('HELLO');
  });

  it('a cut kills the open connection and refuses new ones; healing lets them through again', async () => {
    const proxy = await setUp();
    const socket = await dialThrough(proxy);
    expect(await roundTrip(socket, 'before')).toBe('BEFORE');
    proxy.setMode({ kind: 'cut' });
    await closed(socket);
    expect(proxy.openConnections).toBe(0);
    const refused = await dialThrough(proxy);
    await closed(refused);
    proxy.setMode({ kind: 'pass' });
    expect(await roundTrip(await dialThrough(proxy), 'after')).toBe('AFTER');
  });

  it('a delay holds the bytes back by at least its length, in order', async () => {
    const proxy = await setUp();
    proxy.setMode({ kind: 'delay', delayMs: 200 });
    const socket = await dialThrough(proxy);
    const startMs = performance.now();
    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString();
        if (text.length === 6) resolve(text);
      });
    });
    socket.write('abc');
    socket.write('def');
    expect(await answer).toBe('ABCDEF');
    expect(performance.now() - startMs).toBeGreaterThanOrEqual(190);
  });

  it('a lossy link drops the connection a lost chunk was on', async () => {
    const proxy = await setUp(() => 0.5);
    const socket = await dialThrough(proxy);
    proxy.setMode({ kind: 'loss', dropProbability: 0.6 });
    await expect(roundTrip(socket, 'lost')).rejects.toThrow('closed');
    proxy.setMode({ kind: 'loss', dropProbability: 0.4 });
    expect(await roundTrip(await dialThrough(proxy), 'kept')).toBe('KEPT');
  });
});

describe('LinkMesh', () => {
  it('gives each node a --members view whose peers are its own proxies, its own entry and client ports real', async () => {
    const members = [1, 2, 3].map((id) => ({
      id,
      host: '127.0.0.1',
      clientPort: 9000 + id,
      peerPort: 9100 + id,
    }));
    const mesh = await LinkMesh.start(members);
    try {
      expect(mesh.links).toHaveLength(6);
      const view = mesh.membersSeenBy(2);
      expect(view[1]).toEqual(members[1]);
      expect(view.map((member) => member.clientPort)).toEqual([9001, 9002, 9003]);
      expect(view[0]!.peerPort).toBe(mesh.proxy([2, 1]).port);
      expect(view[2]!.peerPort).toBe(mesh.proxy([2, 3]).port);
      expect(mesh.proxy([2, 3]).port).not.toBe(mesh.proxy([3, 2]).port);
    } finally {
      await mesh.close();
    }
  });
});
