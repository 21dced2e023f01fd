// inject() tests of the quorum-read peer route: JSON and msgpack, absent keys, and bad input
// answered with a code (never a crash).
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterIdHeader, PeerAuth } from '../../node/peer-auth.js';
import {
  answerFromLocalState,
  packQuorumMessage,
  parseReplicaAnswer,
  quorumReadPath,
  unpackQuorumMessage,
} from '../../quorum/replica-answer.js';
import { kvService } from '../../statemachine/kv.js';
import { StateMachine } from '../../statemachine/state-machine.js';
import { MemoryStateStore } from '../../statemachine/state-store.js';
import { logEntries } from '../../statemachine/test-entries.js';
import { quorumReadBodyBytesMax, registerQuorumReadRoute } from './peer-quorum.js';

describe(`POST ${quorumReadPath}`, () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    const stateMachine = new StateMachine(new MemoryStateStore());
    await stateMachine.applyEntries(
      logEntries(1, ['noop', { v: 1, kind: 'kv.put', key: 'a/b', value: { n: 1 } }]),
    );
    // The node has applied 2, and holds a write to a/b at 5 that it has not applied yet.
    const node = {
      lastAppliedIndex: () => 2,
      pendingIndex: (stateKey: string) => (stateKey === 'kv/a/b' ? 5 : 0),
    };
    app = Fastify({ logger: false });
    const auth = new PeerAuth({ clusterId: 'quorum-test', nodeId: 1, secret: null });
    registerQuorumReadRoute(
      app,
      (key) => answerFromLocalState(node, stateMachine.reader(kvService), key),
      auth,
    );
    await app.ready();
  });
  afterAll(() => app.close());

  const post = (payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url: quorumReadPath,
      payload: payload as string,
      headers: { [clusterIdHeader]: 'quorum-test', ...headers },
    });

  it('answers JSON with the value, its revisions and the applied and pending indices', async () => {
    const response = await post({ key: 'a/b' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      value: { n: 1 },
      createRevision: 2,
      modRevision: 2,
      version: 1,
      appliedIndex: 2,
      pendingIndex: 5,
    });
  });

  it('answers msgpack when asked in msgpack; an absent key has value null and modRevision 0', async () => {
    const response = await post(packQuorumMessage({ key: 'nope' }), {
      'content-type': 'application/msgpack',
      accept: 'application/msgpack',
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/msgpack');
    const answer = parseReplicaAnswer(unpackQuorumMessage(response.rawPayload), 1);
    expect(answer).toEqual({
      value: null,
      createRevision: 0,
      modRevision: 0,
      version: 0,
      appliedIndex: 2,
      pendingIndex: 0,
    });
  });

  it.each([
    ['no key', { other: 1 }, {}, 400, 'BAD_REQUEST'],
    ['a key that is not a string', { key: 7 }, {}, 400, 'BAD_REQUEST'],
    ['an empty key', { key: '' }, {}, 400, 'INVALID_KEY'],
    ['a key over the limit', { key: 'k'.repeat(1025) }, {}, 400, 'INVALID_KEY'],
    ['not msgpack', Buffer.from([0xc1]), { 'content-type': 'application/msgpack' }, 400, 'BAD_REQUEST'],
    ['not JSON', '{"key":', { 'content-type': 'application/json' }, 400, 'BAD_REQUEST'],
    ['a body over the limit', { key: 'k'.repeat(quorumReadBodyBytesMax) }, {}, 413, 'BODY_TOO_LARGE'],
  ])('refuses %s with %i %s', async (_name, payload, headers, status, code) => {
    const response = await post(payload, headers as Record<string, string>);
    expect(response.statusCode).toBe(status);
    expect(response.json().error.code).toBe(code);
  });
});

describe('parseReplicaAnswer', () => {
  it('refuses an answer from another build that is not a ReplicaAnswer', () => {
    expect(() => parseReplicaAnswer(null, 3)).toThrow(/replica 3/);
    expect(() => parseReplicaAnswer({ value: 1, modRevision: -1 }, 3)).toThrow(/createRevision/);
    const good = {
      value: 1,
      createRevision: 1,
      modRevision: 1,
      version: 1,
      appliedIndex: 1,
      pendingIndex: 0,
    };
    expect(parseReplicaAnswer(good, 3)).toEqual(good);
    expect(() => parseReplicaAnswer({ ...good, pendingIndex: '2' }, 3)).toThrow(/pendingIndex/);
  });
});
