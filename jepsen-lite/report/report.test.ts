import { describe, expect, it } from 'vitest';
import { checkSet } from '../checkers/set.js';
import { type HistoryOp, HistoryRecorder } from '../history.js';
import { faultWindows } from './history-views.js';
import { renderReport } from './report.js';

/** A set run in miniature: two adds, a kill while they run, a final read that lost one. */
function smallHistory(): HistoryOp[] {
  let nowNs = 0;
  const recorder = new HistoryRecorder(() => nowNs);
  const tick = (seconds: number) => {
    nowNs += seconds * 1e9;
  };
  const first = recorder.invoke(0, 'add', 'set/1', 1, 1);
  tick(0.5);
  recorder.record({
    process: 'nemesis',
    type: 'info',
    f: 'kill',
    value: { fault: 1, phase: 'start', target: 'SIGKILL <leader> 2', nodes: [2] },
  });
  first.ok();
  const second = recorder.invoke(1, 'add', 'set/2', 2, 2);
  tick(1);
  second.info('OUTCOME_UNKNOWN');
  recorder.record({
    process: 'nemesis',
    type: 'info',
    f: 'kill',
    value: { fault: 1, phase: 'stop', target: 'SIGKILL <leader> 2', nodes: [2] },
  });
  tick(1);
  recorder.invoke(5, 'read', 'set/', undefined, 3).ok([]);
  return [...recorder.ops];
}

describe('renderReport', () => {
  const history = smallHistory();
  const results = [checkSet(history)];
  const html = renderReport({
    title: 'set workload, nemesis kill',
    verdict: 'violation',
    settings: [['workload', 'set']],
    results,
    history,
    concurrency: 2,
    notes: ['a note'],
  });

  it('is one self-contained page: no script, no external resource', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|src=|href=|@import/i);
  });

  it('shows the verdict, each checker and the counterexample', () => {
    expect(html).toContain('id="verdict"');
    expect(html).toContain('>VIOLATION<');
    expect(html).toMatch(/<td>set<\/td><td class="fail">INVALID<\/td>/);
    expect(html).toContain('element 1 was acknowledged, then missing from the final read on node 3');
  });

  it('draws a bar per op, outlines the counterexample and shades the fault window', () => {
    const timeline = /<svg id="timeline"[\s\S]*?<\/svg>/.exec(html)?.[0] ?? '';
    expect(timeline.match(/<rect [^>]*height="12"/g)).toHaveLength(3);
    expect(timeline.match(/stroke="#000"/g)).toHaveLength(2);
    expect(timeline).toContain('fill-opacity="0.13"');
    expect(html).toContain('<svg id="latency"');
    expect(html).toContain('<svg id="throughput"');
  });

  it('escapes what it shows', () => {
    expect(html).toContain('SIGKILL &lt;leader&gt; 2');
    expect(html).not.toContain('<leader>');
  });

  it('pairs the fault start and stop into one window', () => {
    expect(faultWindows(history)).toEqual([
      { fault: 1, f: 'kill', target: 'SIGKILL <leader> 2', startNs: 0.5e9, stopNs: 1.5e9, errors: [] },
    ]);
  });
});
