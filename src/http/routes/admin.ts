// Admin routes (design.md §6, docs/security.md): a loopback client, or any client with the admin
// token (`Authorization: Bearer <token>`, --admin-token-file). A wrong token is refused even from
// loopback. Fault injection exists only on nodes started with --enable-fault-injection.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RaftkvError } from '../../errors.js';
import { clientUrl, peerAddress } from '../../node/members.js';
import type { AppDeps } from '../app.js';

export interface Faults {
  clockOffsetMs?: number;
  clockRate?: number;
  diskDelayMs?: number;
}

/** The bounds a fault may take, so a typo cannot stop a node's clock or disk for a day. */
const clockOffsetMsMax = 7 * 24 * 3_600_000;
const clockRateMax = 10;
const diskDelayMsMax = 60_000;
/** How long transfer-leader waits to see the leadership move. */
const transferWaitMs = 3_000;

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** Compares digests, so neither the token's bytes nor its length leak through timing. */
function sameToken(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export function requireAdmin(request: FastifyRequest, adminToken: string | null | undefined): void {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer (\S+)$/.exec(authorization);
    if (match && adminToken && sameToken(match[1]!, adminToken)) return;
    request.log.warn(
      { remote: request.socket.remoteAddress, url: request.url },
      'admin request with a bad token',
    );
    throw new RaftkvError('UNAUTHORIZED', 'The admin token is not valid');
  }
  if (!isLoopback(request.socket.remoteAddress)) throw new RaftkvError('FORBIDDEN');
}

function numberField(
  body: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
): number | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new RaftkvError('INVALID_ARGUMENT', `${name} must be a number in [${min}, ${max}]`);
  }
  return value;
}

export function parseFaults(body: unknown): Faults {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new RaftkvError('BAD_REQUEST', 'The body must be an object');
  }
  const record = body as Record<string, unknown>;
  const known = ['clockOffsetMs', 'clockRate', 'diskDelayMs'];
  const unknown = Object.keys(record).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new RaftkvError('BAD_REQUEST', `Unknown fault ${unknown.join(', ')}`);
  const faults: Faults = {};
  const clockOffsetMs = numberField(record, 'clockOffsetMs', -clockOffsetMsMax, clockOffsetMsMax);
  const clockRate = numberField(record, 'clockRate', 0.01, clockRateMax);
  const diskDelayMs = numberField(record, 'diskDelayMs', 0, diskDelayMsMax);
  if (clockOffsetMs !== undefined) faults.clockOffsetMs = clockOffsetMs;
  if (clockRate !== undefined) faults.clockRate = clockRate;
  if (diskDelayMs !== undefined) faults.diskDelayMs = diskDelayMs;
  return faults;
}

export function registerAdminRoutes(app: FastifyInstance, deps: AppDeps): void {
  const { node } = deps;

  app.get('/admin/members', async (request) => {
    requireAdmin(request, deps.adminToken);
    const { voters, learners } = node.members();
    const describe = (id: number) => {
      const member = deps.members.find((m) => m.id === id);
      return {
        id,
        url: member ? clientUrl(member, deps.scheme) : null,
        peer: member ? peerAddress(member) : null,
      };
    };
    return { voters: voters.map(describe), learners: learners.map(describe) };
  });

  app.post('/admin/transfer-leader', async (request) => {
    requireAdmin(request, deps.adminToken);
    const body = (request.body ?? {}) as { to?: unknown };
    const status = node.status();
    if (status.role !== 'leader')
      throw new RaftkvError('NOT_LEADER', undefined, { leaderId: status.leaderId || null });
    const voters = node.members().voters.filter((id) => id !== status.id);
    const to = body.to === undefined ? voters[0] : body.to;
    if (typeof to !== 'number' || !voters.includes(to)) {
      throw new RaftkvError('INVALID_ARGUMENT', `to must be one of the other voters: ${voters.join(', ')}`);
    }
    node.transferLeader(to);
    const deadline = Date.now() + transferWaitMs;
    while (Date.now() < deadline && node.status().leaderId !== to) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { from: status.id, to, transferred: node.status().leaderId === to };
  });

  app.post('/admin/faults', async (request) => {
    requireAdmin(request, deps.adminToken);
    if (!deps.injectFaults) throw new RaftkvError('FAULT_INJECTION_DISABLED');
    const faults = parseFaults(request.body);
    deps.injectFaults(faults);
    return { applied: faults };
  });
}
