// The built binary, as the real tests run it.
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const cliPath = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

/**
 * Runs `raftkv node` as the one member of a cluster on ports 1 and 2 until it exits: for flags a
 * node must refuse at start (exit code 2, the reason on stderr).
 */
export function runNodeToExit(dataDir: string, flags: readonly string[]): SpawnSyncReturns<string> {
  return spawnSync(
    process.execPath,
    [cliPath, 'node', '--id', '1', '--members', '1=127.0.0.1:1:2', '--data-dir', dataDir, ...flags],
    { encoding: 'utf8', timeout: 30_000 },
  );
}
