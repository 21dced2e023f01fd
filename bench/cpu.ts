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
