#!/usr/bin/env -S node --no-memory-reducer
// raftkv's command line: argument parsing only; each command lives in its own module.
import { resolve } from 'node:path';
import { runCluster } from '../cluster/launcher.js';
import { integerFlag, type ParsedFlags, parseFlags, stringFlag, UsageError } from './cli-args.js';
import { defaultQuorumReadConfig, defaultStorageWriteBufferMib, storageWriteBufferMibMax } from './config.js';
import { MembersParseError, parseMembers } from './node/members.js';
import { loadNodeSecurity } from './node/security.js';
import { startServer } from './node/server.js';

const usage = `usage:
  raftkv node --id N --members 1=host:clientPort:peerPort,... --data-dir DIR [--cluster-token T] [--log-level L]
              [--storage-write-buffer-mib 32]
              [--listen-host H] [--dashboard-url URL] [--cluster-secret-file F] [--admin-token-file F]
              [--tls-cert F --tls-key F [--tls-ca F]]
              [--enable-fault-injection] [--test-ack-before-fsync] [--test-stale-deposed-reads] [--test-lazy-storage]
              [--read-quorum R] [--unsafe-allow-weak-quorum] [--quorum-hedge-ms MS] [--test-skip-pqr-wait]
  raftkv cluster [--nodes 5] [--base-port 7000] [--data-dir ./data]
  raftkv sim [--seeds N --seed-start S | --seed X --verbose] [--nodes N] [--test-fault NAME]
  raftkv bench [--compare etcd | --no-etcd] [--scenario put,get,cas,failover,restart|all] [--duration S] [--quick] [--out DIR] ... (a bad flag prints them all)
  raftkv jepsen [--workload register|set] [--nemesis kill,pause,partition,slow,clock|all|none] [--time S]
              [--rate OPS_PER_S] [--concurrency N] [--consistency L] [--node-flags "FLAGS"] [--seed N]`;

function storageWriteBufferMibFlag(flags: ParsedFlags): number {
  const mib = integerFlag(flags, 'storage-write-buffer-mib', defaultStorageWriteBufferMib, 1);
  if (mib > storageWriteBufferMibMax) {
    throw new UsageError(`--storage-write-buffer-mib must be at most ${storageWriteBufferMibMax}`);
  }
  return mib;
}

async function nodeCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, {
    values: [
      'id',
      'members',
      'data-dir',
      'cluster-token',
      'log-level',
      'dashboard-url',
      'listen-host',
      'read-quorum',
      'quorum-hedge-ms',
      'storage-write-buffer-mib',
      'cluster-secret-file',
      'admin-token-file',
      'tls-cert',
      'tls-key',
      'tls-ca',
    ],
    booleans: [
      'enable-fault-injection',
      'test-ack-before-fsync',
      'test-stale-deposed-reads',
      'test-lazy-storage',
      'unsafe-allow-weak-quorum',
      'test-skip-pqr-wait',
    ],
  });
  const optional = (name: string) => (flags.has(name) ? stringFlag(flags, name) : undefined);
  const security = loadNodeSecurity({
    clusterSecretFile: optional('cluster-secret-file'),
    adminTokenFile: optional('admin-token-file'),
    tlsCert: optional('tls-cert'),
    tlsKey: optional('tls-key'),
    tlsCa: optional('tls-ca'),
  });
  const server = await startServer({
    security,
    id: integerFlag(flags, 'id', 0, 1),
    members: parseMembers(stringFlag(flags, 'members')),
    dataDir: resolve(stringFlag(flags, 'data-dir')),
    clusterToken: stringFlag(flags, 'cluster-token', 'raftkv'),
    logLevel: stringFlag(flags, 'log-level', 'info'),
    dashboardUrl: flags.has('dashboard-url') ? stringFlag(flags, 'dashboard-url') : undefined,
    listenHost: flags.has('listen-host') ? stringFlag(flags, 'listen-host') : undefined,
    enableFaultInjection: flags.has('enable-fault-injection'),
    storageWriteBufferMib: storageWriteBufferMibFlag(flags),
    quorumReads: {
      readQuorum: flags.has('read-quorum') ? integerFlag(flags, 'read-quorum', 0, 1) : undefined,
      allowWeakQuorum: flags.has('unsafe-allow-weak-quorum'),
      hedgeDelayMs: integerFlag(flags, 'quorum-hedge-ms', defaultQuorumReadConfig.hedgeDelayMs),
    },
    testFlags: {
      ackBeforeFsync: flags.has('test-ack-before-fsync'),
      staleDeposedReads: flags.has('test-stale-deposed-reads'),
      lazyStorage: flags.has('test-lazy-storage'),
      skipPqrWait: flags.has('test-skip-pqr-wait'),
    },
  });
  await new Promise<void>((done) => {
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
  });
  await server.stop();
  return 0;
}

async function clusterCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { values: ['nodes', 'base-port', 'data-dir'] });
  return runCluster({
    nodes: integerFlag(flags, 'nodes', 5, 1),
    basePort: integerFlag(flags, 'base-port', 7000, 1),
    dataDir: resolve(stringFlag(flags, 'data-dir', './data')),
  });
}

// Loaded on demand: the bench pulls in the etcd client, which no other command needs.
async function benchCommand(argv: string[]): Promise<number> {
  const { benchMain } = await import('../bench/main.js');
  return benchMain(argv);
}

// Loaded on demand, like the bench: the fault-injection harness is no part of a node.
async function jepsenCommand(argv: string[]): Promise<number> {
  const { jepsenMain } = await import('../jepsen-lite/run.js');
  return jepsenMain(argv);
}

// The deterministic simulator (jepsen-lite/sim): seeds of faulty schedules against the pure core.
async function simCommand(argv: string[]): Promise<number> {
  const { simMain } = await import('../jepsen-lite/sim/main.js');
  return simMain(argv);
}

const commands: Record<string, (argv: string[]) => Promise<number>> = {
  node: nodeCommand,
  sim: simCommand,
  cluster: clusterCommand,
  bench: benchCommand,
  jepsen: jepsenCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name ? commands[name] : undefined;
  if (!command) {
    console.error(usage);
    return 2;
  }
  try {
    return await command(rest);
  } catch (error) {
    if (error instanceof UsageError || error instanceof MembersParseError) {
      console.error(`raftkv ${name}: ${error.message}\n${usage}`);
      return 2;
    }
    console.error(`raftkv ${name}: ${(error as Error).message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
