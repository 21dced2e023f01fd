// One running node: storage, state machine, transport, the Raft driver and the two HTTP
// servers (client port, peer port), with a graceful stop (design.md §6 "Graceful SIGTERM").
import { createHash, randomInt } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { type Logger, pino } from 'pino';
import {
  defaultQuorumReadConfig,
  defaultRaftConfig,
  tickMs as defaultTickMs,
  type QuorumReadConfig,
} from '../config.js';
import { buildApp } from '../http/app.js';
import { registerQuorumReadRoute } from '../http/routes/peer-quorum.js';
import { createNodeQuorumReads } from '../quorum/node-quorum-reads.js';
import { readQuorumSize } from '../quorum/quorum-rule.js';
import type { NodeId } from '../raft/messages.js';
import { kvService } from '../statemachine/kv.js';
import { LevelStateStore } from '../statemachine/level-state-store.js';
import { StateMachine } from '../statemachine/state-machine.js';
import { SkewedClock, systemClock } from './clock.js';
import { HttpTransport, registerPeerRoutes } from './http-transport.js';
import { explainCorruption, LevelStorage, missingAppliedEntriesError } from './level-storage.js';
import { clientUrl, type Member, peerAddress } from './members.js';
import { NodeMetrics } from './metrics.js';
import { defaultNodeLimits, RaftNode, type RoleChange } from './node.js';
import { guardPeerApp, PeerAuth } from './peer-auth.js';
import { missingRuntimeFlags } from './runtime-flags.js';
import { type NodeSecurity, noSecurity } from './security.js';

export interface ServerOptions {
  id: NodeId;
  members: Member[];
  dataDir: string;
  clusterToken: string;
  logLevel?: string;
  dashboardUrl?: string;
  /**
   * The address both servers bind; by default the host of this node's own --members entry. In a
   * container it is 0.0.0.0, while peers dial the service name in --members.
   */
  listenHost?: string;
  /** Cluster secret, admin token and TLS (docs/security.md); none by default. */
  security?: NodeSecurity;
  /** POST /admin/faults may skew this node's clock and slow its disk (tests only). */
  enableFaultInjection?: boolean;
  /** --storage-write-buffer-mib: LevelDB's write buffer (defaultStorageWriteBufferMib when absent). */
  storageWriteBufferMib?: number;
  /** Quorum reads: --read-quorum, --unsafe-allow-weak-quorum, --quorum-hedge-ms. */
  quorumReads?: Partial<Omit<QuorumReadConfig, 'testSkipPendingWait'>>;
  /** Test-only planted bugs and test storage (docs/testing.md). */
  testFlags?: TestFlags;
}

export interface TestFlags {
  /** Followers acknowledge entries before they are on disk. */
  ackBeforeFsync?: boolean;
  /** A node that believes it leads serves linearizable reads locally. */
  staleDeposedReads?: boolean;
  /** Writes wait in process memory before reaching LevelDB, so SIGKILL loses them. */
  lazyStorage?: boolean;
  /** Quorum reads ignore pending writes (the Paxos Quorum Reads wait is skipped). */
  skipPqrWait?: boolean;
}

/** How long --test-lazy-storage holds each write before it reaches the disk. */
const lazyStorageHoldMs = 100;

/** Role changes kept for the status page. */
const roleChangesKept = 50;
/** How long a stopping leader waits for its transfer to land. */
const transferWaitMs = 2_000;
/** How long in-flight requests get to finish on shutdown. */
const drainWaitMs = 5_000;

/** A hash of the cluster token and the sorted member ids (not the addresses). */
export function clusterIdOf(token: string, members: readonly Member[]): string {
  const ids = members.map((member) => member.id).sort((a, b) => a - b);
  return createHash('sha256')
    .update(`${token}\n${ids.join(',')}`)
    .digest('hex')
    .slice(0, 32);
}

export interface RunningServer {
  node: RaftNode;
  logger: Logger;
  stop(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const self = options.members.find((member) => member.id === options.id);
  if (!self) throw new Error(`--id ${options.id} is not in --members`);
  const testFlags = options.testFlags ?? {};
  const quorumConfig = {
    ...defaultQuorumReadConfig,
    ...options.quorumReads,
    testSkipPendingWait: !!testFlags.skipPqrWait,
  };
  // Refused before anything starts; each read checks R again against the voters of its time.
  readQuorumSize(options.members.length, quorumConfig.readQuorum, quorumConfig.allowWeakQuorum);
  const logger = pino({ level: options.logLevel ?? 'info', base: { node: options.id } });
  const missingFlags = missingRuntimeFlags(process.execArgv);
  if (missingFlags.length > 0) {
    logger.warn(
      { missing: missingFlags },
      `started without Node's ${missingFlags.join(' ')}, which the raftkv bin passes: run \`node ${missingFlags.join(' ')} <raftkv>/dist/src/cli.js node ...\` (docs/operations.md)`,
    );
  }
  const voters = options.members.map((member) => member.id);
  const security = options.security ?? noSecurity;
  const tls = security.tls;
  const clusterId = clusterIdOf(options.clusterToken, options.members);
  const auth = new PeerAuth({
    clusterId,
    nodeId: options.id,
    secret: security.clusterSecret,
    logger: logger.child({ component: 'peer-auth' }),
  });
  const storage = await LevelStorage.open(options.dataDir, {
    nodeId: options.id,
    clusterId,
    initialConfig: { voters, learners: [] },
    writeBufferMib: options.storageWriteBufferMib,
  });
  if (storage.tornTail) {
    // design.md §8: a torn tail past the last synced entry is cut and reported.
    logger.warn(
      {
        segment: storage.tornTail.segment,
        atByte: storage.tornTail.atByte,
        bytesCut: storage.tornTail.bytesCut,
      },
      'cut an unfinished append a crash left at the end of the log (it was never synced, so never acknowledged)',
    );
  }
  if (testFlags.lazyStorage) storage.unsyncedHoldMs = lazyStorageHoldMs;
  const clock = options.enableFaultInjection ? new SkewedClock(systemClock) : systemClock;
  const raftConfig = testFlags.ackBeforeFsync
    ? { ...defaultRaftConfig, testFaults: { ackBeforePersist: true } }
    : defaultRaftConfig;
  const stateStore = await LevelStateStore.open(storage.db, storage.stateMachinePrefix).catch(
    async (error) => {
      await storage.close();
      throw explainCorruption(error, options.dataDir);
    },
  );
  const stateMachine = new StateMachine(stateStore);
  const [appliedIndex, lastIndex] = [stateMachine.appliedIndex(), storage.lastIndex()];
  if (appliedIndex > lastIndex) {
    // The log and the state live in separate files: a log cut short behind what was applied.
    await stateStore.close();
    await storage.close();
    throw missingAppliedEntriesError(options.dataDir, appliedIndex, lastIndex);
  }
  const transport = new HttpTransport({
    nodeId: options.id,
    logger,
    auth,
    tls: tls ? { ca: tls.ca } : undefined,
  });
  for (const member of options.members) {
    if (member.id !== options.id) transport.setPeer(member.id, peerAddress(member));
  }
  const metrics = new NodeMetrics(() => transport.stats());
  const roleChanges: RoleChange[] = [];
  let currentTerm = -1;
  let stopping: Promise<void> | undefined;
  const stopOnFatal = (error: unknown) => {
    logger.fatal({ err: error }, 'fatal error: stopping the node');
    void (stopping ?? stop()).finally(() => process.exit(70));
  };
  const node = new RaftNode({
    id: options.id,
    raftConfig,
    storage,
    transport,
    applier: stateMachine,
    clock,
    testServeReadsLocallyAsLeader: testFlags.staleDeposedReads,
    random: () => randomInt(2 ** 31) / 2 ** 31,
    tickMs: defaultTickMs,
    onRoleChange: (change) => {
      roleChanges.push(change);
      if (roleChanges.length > roleChangesKept) roleChanges.shift();
      if (change.term !== currentTerm) metrics.elections.inc();
      currentTerm = change.term;
      logger.info({ term: change.term, role: change.role, leaderId: change.leaderId }, 'role change');
    },
    onSave: (durationMs, entries) => {
      metrics.fsyncSeconds.observe(durationMs / 1000);
      metrics.saveBatchEntries.observe(entries);
    },
    onFatal: stopOnFatal,
  });
  const quorum = createNodeQuorumReads({
    node,
    kvState: stateMachine.reader(kvService),
    members: options.members,
    config: quorumConfig,
    readTimeoutMs: defaultNodeLimits.readTimeoutMs,
    metrics,
    auth,
    tls: tls ? { ca: tls.ca } : undefined,
  });
  const peerApp = Fastify({
    logger: false,
    // No timeout may end a request or a connection for its age (fastify's defaults are 0 too;
    // stated so they stay so). Peers' streams upgrade their connections, where none applies anyway.
    requestTimeout: 0,
    connectionTimeout: 0,
    ...(tls ? { https: { key: tls.key, cert: tls.cert } } : {}),
  }) as unknown as FastifyInstance;
  guardPeerApp(peerApp, auth);
  registerPeerRoutes(peerApp, transport);
  registerQuorumReadRoute(peerApp, quorum.answerLocally, auth);
  const clientApp = await buildApp({
    node,
    stateMachine,
    members: options.members,
    quorumReads: quorum.reads,
    metrics,
    roleChanges: () => roleChanges,
    logger: logger.child({ component: 'http' }),
    dashboardUrl: options.dashboardUrl,
    adminToken: security.adminToken,
    tls,
    scheme: tls ? 'https' : 'http',
    injectFaults:
      clock instanceof SkewedClock
        ? (faults) => {
            clock.setFaults(faults);
            if (faults.diskDelayMs !== undefined) storage.unsyncedHoldMs = faults.diskDelayMs;
            logger.warn({ faults }, 'fault injected');
          }
        : undefined,
  });
  const listenHost = options.listenHost ?? self.host;
  await peerApp.listen({ host: listenHost, port: self.peerPort });
  await clientApp.listen({ host: listenHost, port: self.clientPort });
  node.start();
  logger.info(
    {
      client: clientUrl(self, tls ? 'https' : 'http'),
      peer: peerAddress(self),
      dataDir: options.dataDir,
      peerAuth: security.clusterSecret ? 'hmac' : 'cluster-id only',
      adminToken: security.adminToken !== null,
      tls: tls !== undefined,
      nodeFlags: process.execArgv,
      testFlags,
    },
    'node started',
  );
  // The sweep of every state record runs while the node serves; a damaged one stops it.
  stateStore.whenChecked().catch((error) => stopOnFatal(explainCorruption(error, options.dataDir)));

  async function stop(): Promise<void> {
    logger.info('stopping');
    if (node.status().role === 'leader') await handOverLeadership(node, options.members, logger);
    await withDeadline(clientApp.close(), drainWaitMs);
    await node.stop();
    await peerApp.close();
    await quorum.close();
    await transport.close();
    await stateStore.close();
    await storage.close();
    logger.info('stopped');
  }
  return {
    node,
    logger,
    stop: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}

/** A stopping leader hands over to another voter first (the core catches it up, then sends TimeoutNow). */
async function handOverLeadership(node: RaftNode, members: readonly Member[], logger: Logger): Promise<void> {
  const target = members.find((member) => member.id !== node.id);
  if (!target) return;
  node.transferLeader(target.id);
  const deadline = Date.now() + transferWaitMs;
  while (Date.now() < deadline && node.status().role === 'leader') {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  logger.info({ to: target.id, handedOver: node.status().role !== 'leader' }, 'leadership transfer on stop');
}

async function withDeadline(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
