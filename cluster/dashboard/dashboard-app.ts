// The dashboard's HTTP server (fastify, in the launcher process): the page and its script, the
// state as JSON and as a live event stream, and the buttons that fault the nodes.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { request } from 'undici';
import { clientUrl } from '../../src/node/members.js';
import type { NodeSupervisor } from '../node-supervisor.js';
import { dashboardScript } from './browser-script.js';
import { type DashboardParts, dashboardState } from './dashboard-state.js';
import type { EventLog } from './event-log.js';
import type { LeaderFault } from './failover-clock.js';
import { renderDashboardPage } from './page.js';
import type { SseHub } from './sse-hub.js';

export interface DashboardAppDeps extends DashboardParts {
  events: EventLog;
  hub: SseHub;
}

/** The node's own transfer-leader route waits up to 3 s for the move; a little more here. */
const transferTimeoutMs = 5_000;

interface NodeAction {
  /** What the button does to the process, for the event log. */
  how: string;
  /** Set when the action on a leader starts a failover worth timing. */
  leaderFault?: LeaderFault;
  run(supervisor: NodeSupervisor, id: number): void | Promise<void>;
}

const nodeActions: Record<string, NodeAction> = {
  kill: { how: 'SIGKILL', leaderFault: 'killed', run: (supervisor, id) => supervisor.kill(id) },
  pause: { how: 'SIGSTOP', leaderFault: 'paused', run: (supervisor, id) => supervisor.pause(id) },
  resume: { how: 'SIGCONT', run: (supervisor, id) => supervisor.resume(id) },
  restart: { how: 'graceful stop, then start', run: (supervisor, id) => supervisor.restart(id) },
  isolate: {
    how: 'peer links cut both ways',
    leaderFault: 'isolated',
    run: (supervisor, id) => supervisor.isolate(id),
  },
};

const nodeActionSchema = {
  params: {
    type: 'object',
    properties: {
      id: { type: 'integer', minimum: 1 },
      action: { type: 'string', enum: Object.keys(nodeActions) },
    },
    required: ['id', 'action'],
  },
} as const;

const loadSchema = {
  body: {
    type: 'object',
    properties: { running: { type: 'boolean' } },
    required: ['running'],
    additionalProperties: false,
  },
} as const;

// A page on another origin cannot send application/json without a CORS preflight, which this
// server never grants: so only the dashboard itself (or curl) can press the buttons.
async function requireJsonPosts(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.method !== 'POST') return;
  if (!String(request.headers['content-type'] ?? '').startsWith('application/json')) {
    await reply.code(415).send({ error: 'POST with content-type: application/json' });
  }
}

async function pressNodeButton(deps: DashboardAppDeps, id: number, name: string) {
  const action = nodeActions[name]!;
  const leader = deps.poller.leader();
  const onLeader = leader !== null && leader.id === id && deps.supervisor.state(id) !== 'exited';
  deps.events.add('fault', `node ${id}: ${name} (${action.how})${onLeader ? ', it was the leader' : ''}`, id);
  if (onLeader && action.leaderFault) deps.failovers.leaderFaulted(action.leaderFault, leader, Date.now());
  await action.run(deps.supervisor, id);
  return { node: id, action: name, process: deps.supervisor.state(id) };
}

async function transferLeadership(deps: DashboardAppDeps, reply: FastifyReply) {
  const leader = deps.poller.leader();
  if (!leader) return reply.code(409).send({ error: 'no leader known' });
  const url = `${clientUrl(deps.supervisor.member(leader.id))}/admin/transfer-leader`;
  let statusCode: number;
  let answer: { to?: number; transferred?: boolean; error?: { code: string } };
  try {
    const response = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      headersTimeout: transferTimeoutMs,
      bodyTimeout: transferTimeoutMs,
    });
    statusCode = response.statusCode;
    answer = (await response.body.json()) as typeof answer;
  } catch (error) {
    return reply.code(502).send({ error: `node ${leader.id} did not answer: ${(error as Error).message}` });
  }
  const outcome =
    answer.to === undefined
      ? `refused (${answer.error?.code ?? statusCode})`
      : `to node ${answer.to}: ${answer.transferred ? 'done' : 'not done yet'}`;
  deps.events.add('fault', `leadership transfer from node ${leader.id} ${outcome}`, leader.id);
  return reply.code(statusCode).send(answer);
}

function registerStreams(app: FastifyInstance, deps: DashboardAppDeps): void {
  app.get('/api/state', async () => dashboardState(deps));
  app.get('/api/events', (_request, reply) => {
    reply.hijack();
    if (!deps.hub.add(reply.raw)) {
      reply.raw.writeHead(503, { 'content-type': 'application/json' });
      reply.raw.end(JSON.stringify({ error: 'too many dashboard pages are open' }));
      return;
    }
    for (const event of deps.events.recent()) deps.hub.send(reply.raw, 'log', event);
    deps.hub.send(reply.raw, 'state', dashboardState(deps));
  });
}

function registerButtons(app: FastifyInstance, deps: DashboardAppDeps): void {
  app.post<{ Params: { id: number; action: string } }>(
    '/api/nodes/:id/:action',
    { schema: nodeActionSchema },
    async (request, reply) => {
      const { id, action } = request.params;
      if (!deps.supervisor.members.some((member) => member.id === id))
        return reply.code(404).send({ error: `no node ${id}` });
      return pressNodeButton(deps, id, action);
    },
  );
  app.post('/api/heal', async () => {
    deps.events.add('fault', 'heal all: links reconnected, paused nodes resumed, stopped nodes started');
    deps.supervisor.healAll();
    return { healed: true };
  });
  app.post('/api/transfer-leader', async (_request, reply) => transferLeadership(deps, reply));
  app.post<{ Body: { running: boolean } }>('/api/load', { schema: loadSchema }, async (request) => {
    const { running } = request.body;
    if (running !== deps.load.running) deps.events.add('load', `write load ${running ? 'on' : 'off'}`);
    deps.load.setRunning(running);
    return { running };
  });
}

export async function buildDashboardApp(deps: DashboardAppDeps): Promise<FastifyInstance> {
  // Event streams never end by themselves: closing the app must cut them.
  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.addHook('onRequest', requireJsonPosts);
  const page = renderDashboardPage(deps.supervisor.members);
  const script = dashboardScript();
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page));
  app.get('/dashboard.js', async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').send(script),
  );
  // Browsers ask for it on every page; an empty answer keeps their consoles free of 404s.
  app.get('/favicon.ico', async (_request, reply) => reply.code(204).send());
  registerStreams(app, deps);
  registerButtons(app, deps);
  await app.ready();
  return app;
}
