// Liveness, readiness, status (JSON and the HTML page) and metrics.
import type { FastifyInstance } from 'fastify';
import { clientUrl } from '../../node/members.js';
import type { RaftNode } from '../../node/node.js';
import type { AppDeps } from '../app.js';
import { renderStatusPage } from '../pages/status-page.js';

export interface StatusBody {
  id: number;
  role: 'leader' | 'follower' | 'candidate' | 'learner';
  preVote: boolean;
  term: number;
  leaderId: number | null;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  logTimeMs: number;
  pid: number;
  peers: { id: number; url: string }[];
}

export function statusBody(node: RaftNode, deps: AppDeps): StatusBody {
  const status = node.status();
  const isVoter = node.members().voters.includes(status.id);
  const role = !isVoter ? 'learner' : status.role === 'preCandidate' ? 'candidate' : status.role;
  return {
    id: status.id,
    role,
    preVote: status.role === 'preCandidate',
    term: status.term,
    leaderId: status.leaderId || null,
    commitIndex: status.commitIndex,
    appliedIndex: status.appliedIndex,
    lastIndex: status.lastIndex,
    logTimeMs: status.logTimeMs,
    pid: process.pid,
    peers: deps.members
      .filter((m) => m.id !== status.id)
      .map((m) => ({ id: m.id, url: clientUrl(m, deps.scheme) })),
  };
}

export function registerStatusRoutes(app: FastifyInstance, deps: AppDeps): void {
  const { node, metrics } = deps;

  app.get('/healthz', async () => ({ ok: true }));

  app.get('/readyz', async (_request, reply) => {
    const status = node.status();
    const ready = status.leaderId !== 0 && status.appliedIndex >= status.commitIndex;
    return reply.status(ready ? 200 : 503).send({ ready, leaderId: status.leaderId || null });
  });

  app.get('/v1/status', async () => statusBody(node, deps));

  app.get('/metrics', async (_request, reply) => {
    const status = node.status();
    metrics.term.set(status.term);
    metrics.commitIndex.set(status.commitIndex);
    metrics.appliedIndex.set(status.appliedIndex);
    metrics.setRole(status.role);
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.get('/', async (request, reply) => {
    const host = request.headers.host ?? `127.0.0.1`;
    reply.header('content-type', 'text/html; charset=utf-8');
    return renderStatusPage(statusBody(node, deps), deps.roleChanges(), `http://${host}`, deps.dashboardUrl);
  });
}
