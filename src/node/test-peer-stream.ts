// A peer stream opened by hand over a plain socket, for tests of what the receiving side of
// `POST /raft/stream` accepts, refuses and answers (http-transport.test.ts, peer-auth.test.ts).
import { once } from 'node:events';
import { connect } from 'node:net';
import { peerStreamPath, peerStreamProtocol } from './http-transport.js';

export interface StreamAnswer {
  /** 101 for a stream taken, else the refusal's status. */
  status: number;
  /** What followed the answer's head: the error document that refused the stream or a frame, or ''. */
  body: string;
}

/** How long a hand-made stream waits for the receiver to close it before the test gives up. */
const answerTimeoutMs = 5_000;

/**
 * Opens a stream to `address` (host:port) with `headers`, writes `chunks` one per event-loop turn,
 * ends it, and reads whatever the receiver writes back until the connection closes.
 */
export async function openRawStream(
  address: string,
  headers: Record<string, string>,
  chunks: readonly Uint8Array[],
  request: { method?: string; path?: string; protocol?: string } = {},
): Promise<StreamAnswer> {
  const url = new URL(`http://${address}`);
  const socket = connect({ host: url.hostname, port: Number(url.port) });
  socket.setTimeout(answerTimeoutMs, () =>
    socket.destroy(new Error('the receiver did not close the stream')),
  );
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  // A receiver that refused may be gone before the last chunk: its answer is what counts.
  socket.on('error', () => {});
  const closed = once(socket, 'close');
  await once(socket, 'connect');
  const lines = [
    `${request.method ?? 'POST'} ${request.path ?? peerStreamPath} HTTP/1.1`,
    `host: ${address}`,
    'connection: Upgrade',
    `upgrade: ${request.protocol ?? peerStreamProtocol}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  for (const chunk of chunks) {
    if (socket.destroyed || socket.writableEnded) break;
    socket.write(chunk);
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (!socket.destroyed) socket.end();
  await closed;
  const text = Buffer.concat(received).toString('utf8');
  const headEnd = text.indexOf('\r\n\r\n');
  return {
    status: Number(text.slice('HTTP/1.1 '.length, 'HTTP/1.1 '.length + 3)),
    body: text.slice(headEnd + 4),
  };
}
