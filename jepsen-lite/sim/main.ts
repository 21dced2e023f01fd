// `raftkv sim`: runs seeds of the deterministic simulator and reports. Exit codes follow
// design.md §6: 0 pass, 1 violation found, 2 the run itself failed, 3 inconclusive.
import { integerFlag, type ParsedFlags, parseFlags, stringFlag, UsageError } from '../../src/cli-args.js';
import type { TestFaults } from '../../src/config.js';
import { type FaultMixName, faultMixes } from './faults.js';
import { type RunSummary, runSeed, runSeeds, type SeedResult, type SimOptions } from './run.js';

const plantedBugs: readonly (keyof TestFaults)[] = [
  'grantVoteWithoutLogCheck',
  'commitOlderTermsByCount',
  'ackBeforePersist',
  'leaseReadsWithoutLease',
];

const usage = `usage:
  raftkv sim [--seeds N] [--seed-start S] [--nodes N] [--test-fault NAME[,NAME...]] [--fault-mix MIX]
  raftkv sim --seed X [--verbose] [--nodes N] [--test-fault NAME] [--fault-mix MIX]
test faults (planted bugs): ${plantedBugs.join(', ')}
fault mixes: ${Object.keys(faultMixes).join(', ')} (default: each seed draws its own)`;

/** How many seeds pass between progress lines. */
const progressEverySeeds = 50;

type Print = (line: string) => void;

interface Command {
  options: SimOptions;
  /** The flags that shape a run (all but the seed choice), so a replay command repeats them. */
  shapingFlags: string;
}

export async function simMain(argv: string[], print: Print = console.log): Promise<number> {
  let flags: ParsedFlags;
  let command: Command;
  try {
    flags = parseFlags(argv, {
      values: ['seeds', 'seed-start', 'seed', 'nodes', 'test-fault', 'fault-mix'],
      booleans: ['verbose'],
    });
    command = parseCommand(flags);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    print(`${error.message}\n${usage}`);
    return 2;
  }
  if (flags.has('seed'))
    return replaySeed(integerFlag(flags, 'seed', 0), flags.has('verbose'), command, print);
  const summary = runSeeds({
    ...command.options,
    seeds: integerFlag(flags, 'seeds', 100, 1),
    seedStart: integerFlag(flags, 'seed-start', 1),
    onSeedDone: (result) => {
      if (!result.ok) printFailure(result, command, print, true);
      if (result.seed % progressEverySeeds === 0) print(`... seed ${result.seed}`);
    },
  });
  printSummary(summary, print);
  return exitCode(summary.failures, summary.inconclusive);
}

function parseCommand(flags: ParsedFlags): Command {
  const nodeCount = integerFlag(flags, 'nodes', 5, 1);
  const testFaultNames = flags.has('test-fault') ? stringFlag(flags, 'test-fault').split(',') : [];
  const testFaults: TestFaults = {};
  for (const name of testFaultNames) {
    if (!plantedBugs.includes(name as keyof TestFaults)) throw new UsageError(`unknown test fault ${name}`);
    testFaults[name as keyof TestFaults] = true;
  }
  const mixName = flags.has('fault-mix') ? stringFlag(flags, 'fault-mix') : undefined;
  if (mixName !== undefined && !(mixName in faultMixes)) throw new UsageError(`unknown fault mix ${mixName}`);
  const shapingFlags = [
    nodeCount === 5 ? '' : ` --nodes ${nodeCount}`,
    testFaultNames.length === 0 ? '' : ` --test-fault ${testFaultNames.join(',')}`,
    mixName === undefined ? '' : ` --fault-mix ${mixName}`,
  ].join('');
  const faultMix = mixName === undefined ? undefined : faultMixes[mixName as FaultMixName];
  return { options: { nodeCount, testFaults, faultMix }, shapingFlags };
}

function replaySeed(seed: number, verbose: boolean, command: Command, print: Print): number {
  const result = runSeed(seed, { ...command.options, verbose, onTraceLine: print });
  if (result.ok) {
    const recovery =
      result.recoveryMs === null ? '' : `, recovered ${result.recoveryMs.toFixed(0)} ms after healing`;
    print(
      `seed ${seed}: ok (${(result.virtualMs / 1000).toFixed(1)} s virtual, ${result.messages} messages${recovery})`,
    );
  } else {
    printFailure(result, command, print, !verbose);
  }
  return exitCode(result.ok ? [] : [result], result.inconclusive ? 1 : 0);
}

function printFailure(result: SeedResult, command: Command, print: Print, withTrace: boolean): void {
  const failure = result.violation ?? result.error!;
  const kind = result.violation ? 'violation' : 'run error';
  print(`seed ${result.seed}: ${kind}: ${failure.invariant}\n${failure.message}`);
  if (withTrace) print(`last ${failure.trace.length} trace lines:\n${failure.trace.join('\n')}`);
  print(`replay: raftkv sim --seed ${result.seed}${command.shapingFlags} --verbose`);
}

function printSummary(summary: RunSummary, print: Print): void {
  const inconclusive = summary.inconclusive > 0 ? `, ${summary.inconclusive} inconclusive` : '';
  print(`seeds: ${summary.passed} passed, ${summary.failed} failed${inconclusive}`);
  const virtualSeconds = (summary.virtualMs / 1000).toFixed(0);
  print(`virtual time ${virtualSeconds} s, ${summary.messages} messages, ${summary.events} events`);
  print(`${summary.seedsPerSecond.toFixed(1)} seeds/second (${(summary.wallMs / 1000).toFixed(1)} s)`);
  const longest = summary.longestRecovery;
  if (longest !== null)
    print(`longest liveness recovery: ${longest.recoveryMs.toFixed(0)} ms (seed ${longest.seed})`);
}

function exitCode(failures: readonly SeedResult[], inconclusive: number): number {
  if (failures.some((result) => result.violation !== undefined)) return 1;
  if (failures.length > 0) return 2;
  return inconclusive > 0 ? 3 : 0;
}
