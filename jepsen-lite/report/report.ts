// report.html: one self-contained page per run (inline CSS and SVG, no script, no CDN), read
// top-down: the verdict, each checker's verdict, the counterexample when there is one, then
// the timeline, latency and throughput with the fault windows shaded, and the faults.
import type { CheckerResult, RunVerdict } from '../checkers/verdict.js';
import { clientCalls } from '../client-calls.js';
import type { HistoryOp } from '../history.js';
import { latencySvg, throughputSvg, timelineSvg } from './charts.js';
import { countOutcomes, type FaultWindow, faultWindows } from './history-views.js';
import { escapeHtml, faultColour, nsPerSecond, outcomeColours, TimeScale } from './svg.js';

export type ReportVerdict = RunVerdict | 'run failed';

export interface ReportInput {
  title: string;
  verdict: ReportVerdict;
  /** What was run, as label and value rows: workload, nemesis, seed, node flags, ... */
  settings: ReadonlyArray<readonly [string, string]>;
  results: readonly CheckerResult[];
  history: readonly HistoryOp[];
  concurrency: number;
  /** Things a reader should know: faults that could not be injected, why the run failed. */
  notes: readonly string[];
}

const verdictColours: Record<ReportVerdict, string> = {
  pass: '#2e7d32',
  violation: '#c62828',
  inconclusive: '#f9a825',
  'run failed': '#616161',
};

const style = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1180px; }
h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.verdict { display: inline-block; padding: 4px 14px; border-radius: 4px; color: #fff; font-weight: 700; letter-spacing: .05em; }
table { border-collapse: collapse; } td, th { padding: 3px 10px; border-bottom: 1px solid #e0e0e0; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } code, .ops td { font: 12px ui-monospace, monospace; }
.pass { color: #2e7d32; font-weight: 700; } .fail { color: #c62828; font-weight: 700; } .unknown { color: #b58900; font-weight: 700; }
.legend span { display: inline-block; margin-right: 14px; } .swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: middle; }
svg { display: block; margin: 4px 0; } svg .grid { stroke: #eee; } svg .tick { font: 10px sans-serif; fill: #666; }
svg .fault-label { font: 10px sans-serif; font-weight: 700; }
.note { color: #8a4b00; }
`;

export function renderReport(input: ReportInput): string {
  const calls = clientCalls(input.history);
  const windows = faultWindows(input.history);
  const durationNs = Math.max(nsPerSecond, ...input.history.map((op) => op.time));
  const scale = new TimeScale(durationNs);
  const counterexampleOps = new Set(
    input.results.flatMap((result) => result.counterexample?.ops ?? []).map((op) => op.index),
  );
  // A counterexample may list an op by its invoke or by its completion; the timeline draws calls.
  const highlighted = new Set(
    calls
      .filter((call) => [call.invoke, call.completion].some((op) => op && counterexampleOps.has(op.index)))
      .map((call) => call.invoke.index),
  );
  const counts = countOutcomes(calls);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(`jepsen-lite ${input.verdict}: ${input.title}`)}</title><style>${style}</style></head>
<body>
<h1>jepsen-lite: ${escapeHtml(input.title)}</h1>
<p><span id="verdict" class="verdict" style="background:${verdictColours[input.verdict]}">${escapeHtml(input.verdict.toUpperCase())}</span>
 ${calls.length} client ops (${counts.ok} ok, ${counts.fail} fail, ${counts.info} info${counts.pending > 0 ? `, ${counts.pending} unanswered` : ''}), ${windows.length} faults, ${(durationNs / nsPerSecond).toFixed(1)} s</p>
${input.notes.map((note) => `<p class="note">${escapeHtml(note)}</p>`).join('\n')}
${settingsTable(input.settings)}
<h2>Checkers</h2>
${checkersTable(input.results)}
${input.results.map(counterexampleSection).join('\n')}
<h2>Timeline</h2>
${legend(windows)}
${timelineSvg({ calls, windows, scale, concurrency: input.concurrency, highlighted })}
<h2>Latency</h2>
${latencySvg(calls, windows, scale)}
<h2>Throughput</h2>
${throughputSvg(calls, windows, scale)}
<h2>Faults</h2>
${faultsTable(windows)}
</body></html>
`;
}

function settingsTable(settings: ReportInput['settings']): string {
  const rows = settings.map(
    ([label, value]) => `<tr><th>${escapeHtml(label)}</th><td><code>${escapeHtml(value)}</code></td></tr>`,
  );
  return `<table id="settings">${rows.join('')}</table>`;
}

function verdictCell(valid: CheckerResult['valid']): string {
  if (valid === true) return '<td class="pass">valid</td>';
  if (valid === false) return '<td class="fail">INVALID</td>';
  return '<td class="unknown">unknown</td>';
}

function checkersTable(results: readonly CheckerResult[]): string {
  const rows = results.map(
    (result) =>
      `<tr><td>${escapeHtml(result.checker)}</td>${verdictCell(result.valid)}<td>${escapeHtml(result.summary)}</td></tr>`,
  );
  return `<table id="checkers"><tr><th>checker</th><th>verdict</th><th>summary</th></tr>${rows.join('')}</table>`;
}

function counterexampleSection(result: CheckerResult): string {
  const example = result.counterexample;
  if (!example) return '';
  const cell = (value: unknown) =>
    `<td>${value === undefined ? '' : escapeHtml(typeof value === 'string' ? value : JSON.stringify(value))}</td>`;
  const rows = example.ops.map(
    (op) =>
      `<tr>${cell(op.index)}${cell((op.time / nsPerSecond).toFixed(3))}${cell(op.process)}${cell(op.node)}${cell(op.type)}${cell(op.f)}${cell(op.key)}${cell(op.value)}${cell(op.error)}</tr>`,
  );
  return `<h2>Counterexample (${escapeHtml(result.checker)})</h2>
<p>${escapeHtml(example.description)}</p>
<table class="ops counterexample"><tr><th>#</th><th>time s</th><th>process</th><th>node</th><th>type</th><th>f</th><th>key</th><th>value</th><th>error</th></tr>${rows.join('')}</table>
<p>These ops are outlined in black in the timeline.</p>`;
}

function legend(windows: readonly FaultWindow[]): string {
  const swatch = (colour: string, label: string, opacity = 1) =>
    `<span><i class="swatch" style="background:${colour};opacity:${opacity}"></i>${escapeHtml(label)}</span>`;
  const outcomes = Object.entries(outcomeColours).map(([outcome, colour]) => swatch(colour, outcome));
  const faults = [...new Set(windows.map((window) => window.f))].map((f) =>
    swatch(faultColour(f), `${f} in force`, 0.35),
  );
  return `<p class="legend">${[...outcomes, ...faults].join('')} Hover a bar, a point or a band for details.</p>`;
}

function faultsTable(windows: readonly FaultWindow[]): string {
  if (windows.length === 0) return '<p>No faults were injected.</p>';
  const seconds = (ns: number | undefined) => (ns === undefined ? 'end' : (ns / nsPerSecond).toFixed(2));
  const rows = windows.map(
    (window) =>
      `<tr><td>${window.fault}</td><td style="color:${faultColour(window.f)}">${escapeHtml(window.f)}</td><td>${escapeHtml(window.target)}</td><td>${seconds(window.startNs)}</td><td>${seconds(window.stopNs)}</td><td>${escapeHtml(window.errors.join('; '))}</td></tr>`,
  );
  return `<table id="faults"><tr><th>#</th><th>fault</th><th>target</th><th>from s</th><th>to s</th><th>error</th></tr>${rows.join('')}</table>`;
}
