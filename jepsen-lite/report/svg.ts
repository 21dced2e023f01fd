// Small pieces every chart of the report shares: escaping, the time axis, fault shading and the
// colours of outcomes. Plain strings of inline SVG: the page needs no script and no CDN.
import type { FaultWindow } from './history-views.js';

export const outcomeColours = { ok: '#2e7d32', fail: '#c62828', info: '#f9a825' } as const;
export type Outcome = keyof typeof outcomeColours;

const faultColours: Record<string, string> = {
  kill: '#d32f2f',
  pause: '#7b1fa2',
  partition: '#1565c0',
  slow: '#ef6c00',
  clock: '#00838f',
};

export function faultColour(f: string): string {
  return faultColours[f] ?? '#616161';
}

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** Left margin (labels), plot width and right margin of every chart, in px. */
export const chart = { left: 90, width: 1000, right: 20 } as const;

export const nsPerSecond = 1e9;

/** Maps nanoseconds since the run started to x pixels. */
export class TimeScale {
  constructor(readonly durationNs: number) {}

  x(timeNs: number): number {
    return chart.left + (Math.min(timeNs, this.durationNs) / Math.max(this.durationNs, 1)) * chart.width;
  }
}

/** 1, 2 or 5 times a power of ten, so that about `count` steps span `range`. */
export function niceStep(range: number, count: number): number {
  const rough = range / Math.max(count, 1);
  const power = 10 ** Math.floor(Math.log10(rough || 1));
  const multiple = [1, 2, 5, 10].find((m) => m * power >= rough) ?? 10;
  return multiple * power;
}

/** Seconds ticks along the bottom of a plot whose top is `top` and height `height`. */
export function timeAxis(scale: TimeScale, top: number, height: number): string {
  const durationS = scale.durationNs / nsPerSecond;
  const stepS = niceStep(durationS, 10);
  const ticks: string[] = [];
  for (let s = 0; s <= durationS + 1e-9; s += stepS) {
    const x = scale.x(s * nsPerSecond).toFixed(1);
    ticks.push(
      `<line x1="${x}" x2="${x}" y1="${top}" y2="${top + height}" class="grid"/>` +
        `<text x="${x}" y="${top + height + 14}" class="tick" text-anchor="middle">${Number(s.toFixed(3))}s</text>`,
    );
  }
  return ticks.join('');
}

/** Shaded bands for the windows in which faults were in force, labelled at the top. */
export function faultBands(
  windows: readonly FaultWindow[],
  scale: TimeScale,
  top: number,
  height: number,
  labelled: boolean,
): string {
  return windows
    .map((window) => {
      const x1 = scale.x(window.startNs);
      const x2 = scale.x(window.stopNs ?? scale.durationNs);
      const colour = faultColour(window.f);
      const tooltip = escapeHtml(
        `fault ${window.fault}: ${window.f} — ${window.target}${window.errors.length > 0 ? ` (${window.errors.join('; ')})` : ''}`,
      );
      const label = labelled
        ? `<text x="${(x1 + 3).toFixed(1)}" y="${top + 11}" class="fault-label" fill="${colour}">${escapeHtml(window.f)}</text>`
        : '';
      return `<g class="fault"><title>${tooltip}</title><rect x="${x1.toFixed(1)}" y="${top}" width="${Math.max(1, x2 - x1).toFixed(1)}" height="${height}" fill="${colour}" fill-opacity="0.13"/>${label}</g>`;
    })
    .join('');
}

/** Every `stride`-th item, so that at most `max` remain (a chart stays light on long runs). */
export function sampleEvenly<T>(items: readonly T[], max: number): { items: T[]; sampled: boolean } {
  if (items.length <= max) return { items: [...items], sampled: false };
  const stride = items.length / max;
  return { items: Array.from({ length: max }, (_, i) => items[Math.floor(i * stride)]!), sampled: true };
}
