// Ports picked free at run time (design.md §9): never the fixed 7000 range in tests.
import { createServer } from 'node:net';

function freePort(port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Distinct free ports (held briefly each, so two calls rarely collide). */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** Below Linux's ephemeral range (32768 and up), so outgoing connections do not take them meanwhile. */
const blockPortMin = 10_000;
const blockPortMax = 32_767;
const blockAttemptsMax = 50;

/**
 * A base port B such that B .. B+span-1 are all free now: for `raftkv cluster --base-port B`,
 * whose ports are fixed offsets from its base.
 */
export async function freePortBlock(span: number): Promise<number> {
  for (let attempt = 0; attempt < blockAttemptsMax; attempt++) {
    const base = blockPortMin + Math.floor(Math.random() * (blockPortMax - span - blockPortMin));
    let free = true;
    for (let port = base; free && port < base + span; port++) {
      free = await freePort(port).then(
        () => true,
        () => false,
      );
    }
    if (free) return base;
  }
  throw new Error(`no block of ${span} free ports found in ${blockAttemptsMax} tries`);
}
