// The simulator end to end: a seed replays exactly, the healthy core passes a few hundred
// seeds, and each bug planted in the core (config.ts TestFaults) is caught within a few
// hundred seeds, while the same seeds pass without it.
import { describe, expect, it } from 'vitest';
import type { TestFaults } from '../../src/config.js';
import { toJsonl } from '../history.js';
import { type FaultMixName, faultMixes } from './faults.js';
import { runSeed, runSeeds, type SimOptions } from './run.js';

describe('determinism', () => {
  it('runs a seed the same way twice, traced or not', () => {
    const first = runSeed(7);
    const second = runSeed(7);
    const traced = runSeed(7, { verbose: true });
    expect(first.ok).toBe(true);
    expect(first.history.length).toBeGreaterThan(100);
    expect(toJsonl(second.history)).toBe(toJsonl(first.history));
    expect(toJsonl(traced.history)).toBe(toJsonl(first.history));
    expect([second.events, second.messages]).toEqual([first.events, first.messages]);
    expect(runSeed(7, { verbose: true }).trace).toEqual(traced.trace);
  });

  it('gives different seeds different runs', () => {
    expect(toJsonl(runSeed(8).history)).not.toBe(toJsonl(runSeed(9).history));
  });
});

describe('the healthy core', () => {
  it('passes 200 seeds: safety after every event, linearizability, liveness after healing', () => {
    const summary = runSeeds({ seeds: 200, seedStart: 1000 });
    const failures = summary.failures.map((result) => {
      const failure = result.violation ?? result.error!;
      return `seed ${result.seed}: ${failure.invariant}: ${failure.message}\n${failure.trace.slice(-40).join('\n')}`;
    });
    expect(failures).toEqual([]);
    expect(summary.passed).toBe(200);
    console.log(
      `200 seeds in ${(summary.wallMs / 1000).toFixed(1)} s (${summary.seedsPerSecond.toFixed(1)} seeds/s), ` +
        `longest recovery ${summary.longestRecovery?.recoveryMs.toFixed(0)} ms`,
    );
    // About 15 s alone on one core; the limit leaves room for a CI box running other tests beside it.
  }, 120_000);
});

interface PlantedBugCase {
  fault: keyof TestFaults;
  /** The invariants that may catch it (the first one broken wins). */
  caughtBy: string[];
  options?: SimOptions;
  mixName?: FaultMixName;
}

const plantedBugCases: PlantedBugCase[] = [
  {
    fault: 'grantVoteWithoutLogCheck',
    caughtBy: ['Leader Completeness', 'Acknowledged Write Lost', 'Linearizability'],
  },
  { fault: 'ackBeforePersist', caughtBy: ['Persist Before Ack'] },
  // A deposed leader must still believe it leads when a read comes: its leader cut off.
  { fault: 'leaseReadsWithoutLease', caughtBy: ['Linearizability'], mixName: 'isolateLeader' },
  // Figure 8 needs leaders to flap in a precise order; three nodes make that order likelier.
  {
    fault: 'commitOlderTermsByCount',
    caughtBy: ['Leader Completeness', 'Committed Entries Agree', 'State Machine Safety', 'Linearizability'],
    mixName: 'figure8',
    options: { nodeCount: 3 },
  },
];

/** Seeds a planted bug may take to show; each is found far sooner (see the printed seed). */
const plantedBugSeedsMax = 300;

describe('planted bugs are caught', () => {
  for (const { fault, caughtBy, options, mixName } of plantedBugCases) {
    it(`${fault}${mixName ? ` (fault mix ${mixName})` : ''}`, () => {
      const shape: SimOptions = { ...options, faultMix: mixName ? faultMixes[mixName] : undefined };
      const summary = runSeeds({
        ...shape,
        testFaults: { [fault]: true },
        seeds: plantedBugSeedsMax,
        stopOnFailure: true,
      });
      const found = summary.failures[0];
      expect(found, `no violation in ${plantedBugSeedsMax} seeds`).toBeDefined();
      expect(found!.error).toBeUndefined();
      expect(caughtBy).toContain(found!.violation!.invariant);
      expect(found!.violation!.trace.length).toBeGreaterThan(0);
      console.log(`${fault}: seed ${found!.seed} -> ${found!.violation!.invariant}`);
      // The same seed is clean without the bug: the violation is the bug's doing.
      expect(runSeed(found!.seed, shape).ok).toBe(true);
    }, 120_000);
  }
});
