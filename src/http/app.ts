// buildApp(deps): the client-facing fastify app of one node, testable with app.inject().
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { unpack } from 'msgpackr';
import type { Logger } from 'pino';
import {
  bodyBytesMax,
  clientConnectionIdleTimeoutMs,
  clientConnectionsMax,
  clientKeepAliveTimeoutMs,
  clientRequestTimeoutMs,
} from '../config.js';
import { RaftkvError } from '../errors.js';
import type { Member } from '../node/members.js';
import type { NodeMetrics } from '../node/metrics.js';
import type { RaftNode, RoleChange } from '../node/node.js';
import type { QuorumReads } from '../quorum/quorum-read.js';
import type { StateMachine } from '../statemachine/state-machine.js';
import { type AdmissionLimits, installAdmission } from './admission.js';
import { installErrorHandlers, toRaftkvError } from './errors.js';
import { createForwarder } from './forward.js';
import { type Faults, registerAdminRoutes } from './routes/admin.js';
import { registerKvRoutes } from './routes/kv.js';
import { registerStatusRoutes } from './routes/status.js';

export { bodyBytesMax, clientConnectionsMax };

export interface AppDeps {
  node: RaftNode;
  stateMachine: StateMachine;
  members: readonly Member[];
  /** The coordinator of `consistency=quorum` reads. */
  quorumReads: QuorumReads;
  metrics: NodeMetrics;
  /** Recent role changes, newest last (status page). */
  roleChanges: () => readonly RoleChange[];
  logger?: Logger | false;
  /** How long a forwarded write may take before its outcome is unknown. */
  forwardTimeoutMs?: number;
  /** The dashboard's URL, when the node runs under `raftkv cluster`. */
  dashboardUrl?: string;
  /** --admin-token-file: admin routes accept `Authorization: Bearer <token>` from any address. */
  adminToken?: string | null;
  /** --tls-cert/--tls-key: the client port speaks https, and forwards to the leader check `ca`. */
  tls?: { cert: Buffer; key: Buffer; ca: Buffer };
  /** The scheme of every member's client URL (https with TLS). */
  scheme?: 'http' | 'https';
  /** Present only with --enable-fault-injection: applies POST /admin/faults. */
  injectFaults?: (faults: Faults) => void;
  /** Overrides of the admission limits (defaultAdmissionLimits). */
  admission?: Partial<AdmissionLimits>;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger || undefined,
    logger: deps.logger === undefined ? false : undefined,
    bodyLimit: bodyBytesMax,
    // One log line per request would flood the log under load (fastify 5.12's way to say so).
    logController: new LogController({ disableRequestLogging: true }),
    // request.log is the node's logger itself: a pino child per request costs more than the rare
    // line it would carry (the lines that matter name their request's method and URL).
    childLoggerFactory: (logger: unknown) => logger,
    return503OnClosing: true,
    requestTimeout: clientRequestTimeoutMs,
    keepAliveTimeout: clientKeepAliveTimeoutMs,
    connectionTimeout: clientConnectionIdleTimeoutMs,
    // No maxRequestsPerSocket: Node answers pipelined requests past it 503 on its own, without
    // our error shape or Retry-After; maxConnections and admission bound the load instead.
    ...(deps.tls ? { https: { key: deps.tls.key, cert: deps.tls.cert } } : {}),
    // Errors fastify raises before routing (a malformed URL, say) get our error shape too.
    frameworkErrors: (
      error: Error,
      _request: unknown,
      reply: { status(code: number): { send(body: unknown): void } },
    ) => {
      const mapped = toRaftkvError(error);
      reply.status(mapped.status).send(mapped.toJSON());
    },
  } as never) as unknown as FastifyInstance;
  app.server.maxConnections = clientConnectionsMax;
  installErrorHandlers(app);
  installAdmission(app, deps.admission, deps.metrics);
  // JSON (fastify's parser) and msgpack only: a text/plain body is refused, not read as a string.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(
    'application/msgpack',
    { parseAs: 'buffer', bodyLimit: bodyBytesMax },
    (_request, body, done) => {
      try {
        done(null, unpack(body as Buffer));
      } catch {
        done(new RaftkvError('BAD_REQUEST', 'The body is not valid msgpack'), undefined);
      }
    },
  );
  const forwarder = createForwarder(deps.forwardTimeoutMs ?? 10_000, deps.tls?.ca);
  app.addHook('onClose', () => forwarder.close());
  registerStatusRoutes(app, deps);
  registerKvRoutes(app, deps, forwarder);
  registerAdminRoutes(app, deps);
  await app.ready();
  return app;
}
