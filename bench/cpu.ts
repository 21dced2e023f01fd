// CPU time of other processes, from /proc/<pid>/stat (Linux): utime + stime.
import { readFileSync } from 'node:fs';

/** Linux reports utime and stime in USER_HZ ticks, which is 100 per second on every mainstream arch. */
const clockTicksPerSec = 100;
/** Field positions of utime and stime, counted after the ")" that closes the command name. */
const utimeFieldAfterComm = 11;
const stimeFieldAfterComm = 12;

/** The CPU seconds (user + system) `pid` has used so far, or undefined if it is gone. */
export function processCpuSec(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may contain spaces and parentheses; the fields start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[utimeFieldAfterComm]) + Number(fields[stimeFieldAfterComm]);
  return ticks / clockTicksPerSec;
}

/** CPU seconds to the clock's resolution, so sums of readings print without float noise. */
export function roundCpuSec(seconds: number): number {
  return Math.round(seconds * clockTicksPerSec) / clockTicksPerSec;
}

export function cpuSecOf(pids: readonly number[]): Map<number, number> {
  const cpuSec = new Map<number, number>();
  for (const pid of pids) {
    const seconds = processCpuSec(pid);
    if (seconds !== undefined) cpuSec.set(pid, seconds);
  }
  return cpuSec;
}

/** CPU seconds each process used between two readings (a process that vanished counts 0). */
export function cpuSecBetween(
  before: Map<number, number>,
  after: Map<number, number>,
): Record<string, number> {
  const used: Record<string, number> = {};
  for (const [pid, start] of before) {
    used[pid] = Math.max(0, roundCpuSec((after.get(pid) ?? start) - start));
  }
  return used;
}

/**
 * CPU seconds every process on the machine has used since boot (user, nice, system, irq, softirq
 * from /proc/stat), to tell the bench's own use from other work on a shared machine.
 */
export function machineBusyCpuSec(): number {
  const [cpuLine] = readFileSync('/proc/stat', 'utf8').split('\n');
  const [user, nice, system, , , irq, softirq] = cpuLine!.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq!) / clockTicksPerSec;
}

/** Steps of the host probe's loop: about half a second of CPU on this machine when it is quiet. */
const hostProbeSteps = 50_000_000;

/**
 * Milliseconds of CPU a fixed integer loop takes in this process: the same on a given machine when
 * its host is quiet, more when the host's other tenants slow its cores (a shared VM). Taken before
 * and after a run, it tells a reader whether two runs met the same machine.
 */
export function hostProbeCpuMs(steps = hostProbeSteps): number {
  const started = process.cpuUsage();
  let state = 0;
  for (let step = 0; step < steps; step++) state = (state * 31 + step) | 0;
  const used = process.cpuUsage(started);
  // The result is used, so the loop cannot be left out.
  return (used.user + used.system) / 1000 + (state === 0.5 ? 1 : 0);
}
