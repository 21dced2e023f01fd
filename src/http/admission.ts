// Admission control on the client port (design.md §6 "Overload"): client requests in flight are
// counted per client address and node-wide, and a request past either limit is refused in
// onRequest, before its body is parsed: 429 OVERLOADED (one client sends too much) or 503 BUSY
// (the node as a whole has too much), both with Retry-After. Liveness, readiness, status,
// metrics and admin routes are never refused (nor counted), so health checks and operators still
// get answers while the node sheds load.
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { assert } from '../assert.js';
import { type AdmissionLimits, defaultAdmissionLimits } from '../config.js';
import { type ErrorCode, RaftkvError } from '../errors.js';
import type { NodeMetrics } from '../node/metrics.js';
import { sendError } from './errors.js';

export { type AdmissionLimits, defaultAdmissionLimits };

/** Routes (by their pattern, so a key named `healthz` is no loophole) that are never refused. */
const exemptGetRoutes = new Set(['/', '/healthz', '/readyz', '/metrics', '/v1/status']);
const exemptRoutePrefix = '/admin/';

function isExempt(request: FastifyRequest): boolean {
  const route = request.routeOptions.url;
  if (route === undefined) return false;
  if (route.startsWith(exemptRoutePrefix)) return true;
  return (request.method === 'GET' || request.method === 'HEAD') && exemptGetRoutes.has(route);
}

/** One admitted request: released exactly once, however its exchange ends. */
interface Ticket {
  readonly client: string;
  released: boolean;
}

/** The counts behind admission, readable by tests and metrics. */
export class Admission {
  /** Invariant: the sum of inFlightByClient's values, and never negative. */
  private inFlight = 0;
  /** Only clients with requests in flight: an entry is deleted when its count returns to 0. */
  private readonly inFlightByClient = new Map<string, number>();

  constructor(
    readonly limits: AdmissionLimits,
    private readonly metrics?: Pick<NodeMetrics, 'requestsRefused' | 'requestsInFlight'>,
  ) {
    assert(limits.requestsInFlightPerClientMax >= 1, 'requestsInFlightPerClientMax >= 1');
    assert(limits.requestsInFlightMax >= 1, 'requestsInFlightMax >= 1');
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  /** Clients with at least one request in flight (the size of the per-client map). */
  get clientsInFlight(): number {
    return this.inFlightByClient.size;
  }

  /** A ticket for the request, or the code of its refusal. */
  admit(client: string): Ticket | ErrorCode {
    const ofClient = this.inFlightByClient.get(client) ?? 0;
    const refusal: ErrorCode | undefined =
      ofClient >= this.limits.requestsInFlightPerClientMax
        ? 'OVERLOADED'
        : this.inFlight >= this.limits.requestsInFlightMax
          ? 'BUSY'
          : undefined;
    if (refusal) {
      this.metrics?.requestsRefused.inc({ code: refusal });
      return refusal;
    }
    this.inFlightByClient.set(client, ofClient + 1);
    this.inFlight++;
    this.metrics?.requestsInFlight.set(this.inFlight);
    return { client, released: false };
  }

  release(ticket: Ticket): void {
    if (ticket.released) return;
    ticket.released = true;
    const ofClient = this.inFlightByClient.get(ticket.client) ?? 0;
    assert(ofClient >= 1 && this.inFlight >= 1, 'admission released a request it never admitted');
    if (ofClient === 1) this.inFlightByClient.delete(ticket.client);
    else this.inFlightByClient.set(ticket.client, ofClient - 1);
    this.inFlight--;
    this.metrics?.requestsInFlight.set(this.inFlight);
  }
}

/**
 * Counts every non-exempt client request from onRequest until its exchange ends. The response's
 * 'close' ends an answered or aborted request; but a pipelined request queued behind another on
 * a connection that dies gets neither 'finish' nor 'close' (and its request's 'close' fired when
 * its body was read), so the connection's own 'close' releases whatever is still open on it.
 * Both may fire for one request, in either order: a ticket is released once.
 */
export function installAdmission(
  app: FastifyInstance,
  limits: Partial<AdmissionLimits> = {},
  metrics?: Pick<NodeMetrics, 'requestsRefused' | 'requestsInFlight'>,
): Admission {
  const admission = new Admission({ ...defaultAdmissionLimits, ...limits }, metrics);
  const openOnSocket = new WeakMap<Socket, Set<Ticket>>();

  function track(socket: Socket, ticket: Ticket): () => void {
    let open = openOnSocket.get(socket);
    if (!open) {
      const tickets = new Set<Ticket>();
      open = tickets;
      openOnSocket.set(socket, tickets);
      socket.once('close', () => {
        for (const stranded of tickets) admission.release(stranded);
        tickets.clear();
      });
    }
    open.add(ticket);
    return () => {
      open.delete(ticket);
      admission.release(ticket);
    };
  }

  app.addHook('onRequest', (request, reply, done) => {
    if (isExempt(request)) return done();
    const socket = request.raw.socket;
    const ticket = admission.admit(socket.remoteAddress ?? 'unknown');
    if (typeof ticket === 'string') {
      sendError(new RaftkvError(ticket), request, reply);
      return;
    }
    reply.raw.once('close', track(socket, ticket));
    done();
  });
  return admission;
}
