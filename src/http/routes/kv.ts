// KV routes (design.md §6): the key is the rest of the path and may contain '/'.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RaftkvError } from '../../errors.js';
import { clientUrl } from '../../node/members.js';
import type { QuorumReads } from '../../quorum/quorum-read.js';
import { encodeCommand, type KvCommand } from '../../statemachine/commands.js';
import { type KvItem, kvGet, kvRange, kvService, validateKvCommand } from '../../statemachine/kv.js';
import { kvRangeItemsMax } from '../../statemachine/limits.js';
import type { AppDeps } from '../app.js';
import { parseConsistency, prepareRead, setReadHeaders } from '../consistency.js';
import { type Forwarder, forwardedHeader, noForwardHeader } from '../forward.js';

type Query = Record<string, string | undefined>;

function keyOf(request: FastifyRequest): string {
  return (request.params as { '*': string })['*'];
}

function parseRevision(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) throw new RaftkvError('INVALID_REVISION');
  return Number(value);
}

function parseLimit(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const limit = Number(value);
  if (!/^\d+$/.test(value) || limit < 1 || limit > kvRangeItemsMax) {
    throw new RaftkvError('INVALID_ARGUMENT', `limit must be an integer in [1, ${kvRangeItemsMax}]`);
  }
  return limit;
}

function putValue(body: unknown): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !Object.hasOwn(body, 'value')) {
    throw new RaftkvError('BAD_REQUEST', 'The body must be {"value": <any JSON>}');
  }
  return (body as { value: unknown }).value;
}

/** A quorum read (src/quorum): the freshest of R replicas' values, once no pending write is newer. */
async function quorumGet(reads: QuorumReads, key: string, reply: FastifyReply): Promise<KvItem | undefined> {
  const { replicaId, answer } = await reads.read(key);
  setReadHeaders(reply, 'quorum', answer.appliedIndex);
  reply.header('x-quorum-replica', String(replicaId));
  if (answer.modRevision === 0) return undefined;
  const { value, createRevision, modRevision, version } = answer;
  return { key, value, createRevision, modRevision, version };
}

export function registerKvRoutes(app: FastifyInstance, deps: AppDeps, forwarder: Forwarder): void {
  const { node } = deps;
  const reader = deps.stateMachine.reader(kvService);

  /** Runs a validated command through the log on the leader, or forwards it there. */
  async function write(request: FastifyRequest, reply: FastifyReply, command: KvCommand): Promise<unknown> {
    validateKvCommand(command);
    const { role, leaderId } = node.leadership();
    if (role !== 'leader') {
      const leader = deps.members.find((member) => member.id === leaderId);
      const hint = {
        leaderId: leader?.id ?? null,
        leaderUrl: leader ? clientUrl(leader, deps.scheme) : null,
      };
      if (request.headers[noForwardHeader] === '1') throw new RaftkvError('NOT_LEADER', undefined, hint);
      if (!leader || request.headers[forwardedHeader] === '1')
        throw new RaftkvError('NO_LEADER', undefined, hint);
      return forwarder.forward(request, reply, clientUrl(leader, deps.scheme));
    }
    const stopTimer = deps.metrics.proposalSeconds.startTimer();
    const result = await node.propose(encodeCommand(command));
    stopTimer();
    if (result === null) throw new RaftkvError('INTERNAL', 'a write produced no result');
    if (!result.ok) throw new RaftkvError(result.error.code, result.error.message, result.error.details);
    reply.header('x-raft-index', String((result.value as { revision: number }).revision));
    return result.value;
  }

  app.put('/v1/kv/*', async (request, reply) => {
    const query = request.query as Query;
    const command: KvCommand = { v: 1, kind: 'kv.put', key: keyOf(request), value: putValue(request.body) };
    const ifRevision = parseRevision(query.ifRevision);
    if (ifRevision !== undefined) command.ifRevision = ifRevision;
    return write(request, reply, command);
  });

  app.delete('/v1/kv/*', async (request, reply) => {
    const query = request.query as Query;
    const command: KvCommand = { v: 1, kind: 'kv.delete', key: keyOf(request) };
    const ifRevision = parseRevision(query.ifRevision);
    if (ifRevision !== undefined) command.ifRevision = ifRevision;
    return write(request, reply, command);
  });

  app.get('/v1/kv/*', async (request, reply) => {
    const key = keyOf(request);
    validateKvCommand({ v: 1, kind: 'kv.delete', key });
    const level = parseConsistency((request.query as Query).consistency);
    let item: KvItem | undefined;
    if (level === 'quorum') {
      item = await quorumGet(deps.quorumReads, key, reply);
    } else {
      await prepareRead(node, level, reply);
      item = await kvGet(reader, key);
    }
    if (!item) throw new RaftkvError('KEY_NOT_FOUND', undefined, { key });
    return item;
  });

  app.get('/v1/kv', async (request, reply) => {
    const query = request.query as Query;
    const limit = parseLimit(query.limit);
    await prepareRead(node, parseConsistency(query.consistency), reply);
    return kvRange(reader, { prefix: query.prefix ?? '', after: query.after, limit });
  });
}
