// Clock faults: every local node shares the machine's clock, so the skew is injected inside the
// node (design.md §9): `POST /admin/faults` moves its wall clock by an offset and makes its
// monotonic clock run at a rate. Only nodes started with --enable-fault-injection accept it.
import { request } from 'undici';
import type { ActiveFault, Nemesis } from './nemesis.js';

export const clockFaultFlag = '--enable-fault-injection';
/** Wall-clock skew either way; log time must not follow a skewed wall clock (design.md §3). */
export const clockOffsetMsMax = 60_000;
/**
 * Monotonic rate off by at most this fraction either way. Leases are only safe while drift stays
 * under their bound (leaseDriftTicks / electionTimeoutTicksMin = 20%), so this stays well inside it.
 */
export const clockRateDeviationMax = 0.05;
const adminRequestTimeoutMs = 2_000;

interface ClockFault {
  clockOffsetMs: number;
  clockRate: number;
}

const trueClock: ClockFault = { clockOffsetMs: 0, clockRate: 1 };

/** Resolves to an error text when the node did not accept the fault, else undefined. */
async function postClockFault(baseUrl: string, fault: ClockFault): Promise<string | undefined> {
  try {
    const response = await request(`${baseUrl}/admin/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(fault),
      headersTimeout: adminRequestTimeoutMs,
      bodyTimeout: adminRequestTimeoutMs,
    });
    const text = await response.body.text();
    return response.statusCode === 200 ? undefined : `HTTP ${response.statusCode}: ${text.slice(0, 200)}`;
  } catch (error) {
    return (error as Error).message;
  }
}

export function clockNemesis(): Nemesis {
  return {
    f: 'clock',
    name: 'clock',
    nodeFlags: [clockFaultFlag],
    async start({ cluster, random }): Promise<ActiveFault> {
      const node = random.pick(cluster.members.map((member) => member.id));
      const fault: ClockFault = {
        clockOffsetMs: Math.round(random.between(-clockOffsetMsMax, clockOffsetMsMax)),
        clockRate: Number(random.between(1 - clockRateDeviationMax, 1 + clockRateDeviationMax).toFixed(3)),
      };
      const error = await postClockFault(cluster.url(node), fault);
      const active: ActiveFault = {
        target: `node ${node} wall clock ${fault.clockOffsetMs > 0 ? '+' : ''}${fault.clockOffsetMs} ms, monotonic rate ${fault.clockRate}`,
        nodes: [node],
        heal: () =>
          error === undefined ? postClockFault(cluster.url(node), trueClock) : Promise.resolve(undefined),
      };
      if (error !== undefined) active.error = error;
      return active;
    },
  };
}
