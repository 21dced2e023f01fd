// `--nemesis kill,pause,partition,slow,clock | all | none`: each entry is a fault family,
// optionally narrowed to one variant (`kill:majority`, `partition:leader`). A family alone draws
// from its default variants, which leave out the ones that only make sense on purpose
// (killing or pausing every node at once).
import { clockNemesis } from './clock.js';
import { type Nemesis, type NodeTarget, nodeTargets } from './nemesis.js';
import { type PartitionKind, partitionKinds, partitionNemesis } from './partition.js';
import { killNemesis, pauseNemesis } from './process-faults.js';
import { type SlowKind, slowKinds, slowNemesis } from './slow.js';

interface NemesisFamily {
  variants: readonly string[];
  defaults: readonly string[];
  make(variants: readonly string[]): Nemesis;
}

const families: Record<string, NemesisFamily> = {
  kill: {
    variants: nodeTargets,
    defaults: ['one', 'leader', 'minority', 'majority'],
    make: (variants) => killNemesis(variants as NodeTarget[]),
  },
  pause: {
    variants: nodeTargets,
    defaults: ['one', 'leader', 'minority', 'majority'],
    make: (variants) => pauseNemesis(variants as NodeTarget[]),
  },
  partition: {
    variants: partitionKinds,
    defaults: partitionKinds,
    make: (variants) => partitionNemesis(variants as PartitionKind[]),
  },
  slow: { variants: slowKinds, defaults: slowKinds, make: (variants) => slowNemesis(variants as SlowKind[]) },
  clock: { variants: [], defaults: [], make: () => clockNemesis() },
};

export const nemesisFamilies: readonly string[] = Object.keys(families);

export class NemesisSpecError extends Error {
  override name = 'NemesisSpecError';
}

export function parseNemesisSpec(spec: string): Nemesis[] {
  const entries = spec
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 1 && entries[0] === 'none') return [];
  const expanded = entries.length === 1 && entries[0] === 'all' ? nemesisFamilies : entries;
  return expanded.map((entry) => {
    const [name, variant, extra] = entry.split(':');
    const family = name === undefined ? undefined : families[name];
    if (!family || extra !== undefined)
      throw new NemesisSpecError(
        `unknown nemesis "${entry}": use ${nemesisFamilies.join(', ')}, all or none`,
      );
    if (variant === undefined) return family.make(family.defaults);
    if (!family.variants.includes(variant))
      throw new NemesisSpecError(
        `unknown variant "${entry}": ${name} takes ${family.variants.length > 0 ? family.variants.join(', ') : 'no variant'}`,
      );
    return family.make([variant]);
  });
}

/** The flags every node needs for these nemeses (each once). */
export function nodeFlagsFor(nemeses: readonly Nemesis[]): string[] {
  return [...new Set(nemeses.flatMap((nemesis) => nemesis.nodeFlags))];
}
