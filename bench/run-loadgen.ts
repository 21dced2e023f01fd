// Runs the load generator as its own process and reads its one-line JSON result.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadgenParams, LoadgenResult } from './loadgen-protocol.js';

const loadgenPath = fileURLToPath(new URL('./loadgen.js', import.meta.url));
/** Beyond a timed run's own length: process start, connecting, draining and closing. */
const loadgenSlackMs = 60_000;
/** A fill has no set length; this bounds it: at least this long, and at least fillMsPerKey per key. */
const fillTimeoutMsMin = 600_000;
/** 500 writes/s: well below either system's rate on a small machine. */
const fillMsPerKey = 2;

export class LoadgenAborted extends Error {
  override name = 'LoadgenAborted';
}

export function runLoadgen(params: LoadgenParams, signal: AbortSignal): Promise<LoadgenResult> {
  const timeoutMs =
    params.pattern === 'fill'
      ? Math.max(fillTimeoutMsMin, params.keyCount * fillMsPerKey)
      : params.warmupMs + params.durationMs + loadgenSlackMs;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new LoadgenAborted('the bench was interrupted'));
    const child = spawn(process.execPath, [loadgenPath, JSON.stringify(params)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    let failure: Error | undefined;
    const stop = (error: Error) => {
      failure ??= error;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop(new Error(`the load generator ran past ${timeoutMs} ms`)), timeoutMs);
    const onAbort = () => stop(new LoadgenAborted('the bench was interrupted'));
    signal.addEventListener('abort', onAbort, { once: true });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.once('error', stop);
    child.once('close', (code, exitSignal) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (failure) return reject(failure);
      if (code !== 0) return reject(new Error(`the load generator exited with ${exitSignal ?? code}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as LoadgenResult);
      } catch {
        reject(new Error(`the load generator printed no result: ${stdout.slice(0, 200)}`));
      }
    });
  });
}
