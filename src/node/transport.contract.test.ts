// Runs the one transport contract against both implementations.
import Fastify, { type FastifyInstance } from 'fastify';
import { HttpTransport, registerPeerRoutes } from './http-transport.js';
import { MemoryNetwork } from './memory-transport.js';
import { PeerAuth } from './peer-auth.js';
import { transportContract } from './transport.contract.js';

transportContract('MemoryTransport', async () => {
  const network = new MemoryNetwork();
  const a = network.transport(1);
  const b = network.transport(2);
  a.setPeer(2, 'memory');
  b.setPeer(1, 'memory');
  return {
    a,
    b,
    aId: 1,
    bId: 2,
    cleanup: async () => {
      await a.close();
      await b.close();
    },
  };
});

/** A transport behind its own peer-port server on a free loopback port. */
async function startHttpNode(
  nodeId: number,
): Promise<{ transport: HttpTransport; server: FastifyInstance; address: string }> {
  // Signed, as real nodes are: the contract holds with credentials on every request.
  const auth = new PeerAuth({
    clusterId: 'contract',
    nodeId,
    secret: Buffer.from('contract-test-secret-0123456789'),
  });
  const transport = new HttpTransport({ nodeId, auth });
  const server = Fastify();
  registerPeerRoutes(server, transport);
  const address = new URL(await server.listen({ host: '127.0.0.1', port: 0 })).host;
  return { transport, server, address };
}

transportContract('HttpTransport', async () => {
  const [nodeA, nodeB] = await Promise.all([startHttpNode(1), startHttpNode(2)]);
  nodeA.transport.setPeer(2, nodeB.address);
  nodeB.transport.setPeer(1, nodeA.address);
  return {
    a: nodeA.transport,
    b: nodeB.transport,
    aId: 1,
    bId: 2,
    cleanup: async () => {
      await Promise.all([nodeA.transport.close(), nodeB.transport.close()]);
      await Promise.all([nodeA.server.close(), nodeB.server.close()]);
    },
  };
});
