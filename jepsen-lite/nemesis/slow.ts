// A slow or lossy network through the link proxies: each directed link gets its own delay (so
// the network is asymmetric, as real ones are), or every link drops connections at random.
import type { Link, LinkMode } from '../real/link-proxy.js';
import type { ActiveFault, Nemesis } from './nemesis.js';

export type SlowKind = 'delay' | 'loss';
export const slowKinds: readonly SlowKind[] = ['delay', 'loss'];

/**
 * Delays stay well under the peer transport's 2 s request timeouts: a slow link, not a cut one.
 * The upper end is a few heartbeats (tick 50 ms), enough to make leases and elections race.
 */
export const slowDelayMsMin = 20;
export const slowDelayMsMax = 300;
export const lossProbabilityMin = 0.02;
export const lossProbabilityMax = 0.2;

export function slowNemesis(kinds: readonly SlowKind[]): Nemesis {
  return {
    f: 'slow',
    name: `slow:${kinds.join('|')}`,
    nodeFlags: [],
    async start({ cluster, random }): Promise<ActiveFault> {
      const mesh = cluster.links;
      if (!mesh) throw new Error('the slow nemesis needs a cluster started with link proxies');
      const kind = random.pick(kinds);
      const links = mesh.links;
      const modes: Array<[Link, LinkMode]> = links.map((link) => [
        link,
        kind === 'delay'
          ? { kind: 'delay', delayMs: Math.round(random.between(slowDelayMsMin, slowDelayMsMax)) }
          : { kind: 'loss', dropProbability: random.between(lossProbabilityMin, lossProbabilityMax) },
      ]);
      for (const [link, mode] of modes) mesh.set([link], mode);
      const target =
        kind === 'delay'
          ? `every link delayed ${slowDelayMsMin}-${slowDelayMsMax} ms (each its own)`
          : `every link drops ${lossProbabilityMin * 100}-${lossProbabilityMax * 100}% of its chunks, killing the connection`;
      return {
        target,
        nodes: [],
        heal: async () => {
          mesh.set(links, { kind: 'pass' });
          return undefined;
        },
      };
    },
  };
}
