// The dashboard's script, run in the browser. It is written as typed functions so tsc checks it,
// and served as their source text (Function.prototype.toString) inside one scope: so each
// function may use only the others listed in `browserFunctions`, `dashboardLimits` and browser
// globals, never an import or anything else from this module at run time.
import { escapeHtml } from '../../src/http/pages/status-page.js';
import type { DashboardState, NodeCard } from './dashboard-state.js';
import { type ClusterEvent, formatClock } from './event-log.js';
import type { Failover } from './failover-clock.js';
import type { WriteBucket } from './write-load.js';

/** Event log lines the page keeps (the launcher keeps its own, bounded too). */
const browserLimits = { logEntriesShown: 300 };
declare const dashboardLimits: typeof browserLimits;

function startDashboard(): void {
  let lastSeq = 0;
  const events: ClusterEvent[] = [];
  const source = new EventSource('/api/events');
  source.addEventListener('open', () => setText('connection', 'live'));
  source.addEventListener('error', () => setText('connection', 'reconnecting…'));
  source.addEventListener('log', (message) => {
    const event = JSON.parse((message as MessageEvent<string>).data) as ClusterEvent;
    if (event.seq <= lastSeq) return; // resent after a reconnect
    lastSeq = event.seq;
    events.push(event);
    if (events.length > dashboardLimits.logEntriesShown) events.shift();
    showEvent(event);
  });
  source.addEventListener('state', (message) => {
    renderState(JSON.parse((message as MessageEvent<string>).data) as DashboardState, events);
  });
  document.addEventListener('click', (click) => {
    const button = (click.target as Element).closest<HTMLButtonElement>('button[data-url]');
    if (button) void pressButton(button);
  });
}

function setText(id: string, text: string): void {
  const element = document.getElementById(id);
  if (element) element.textContent = text;
}

async function pressButton(button: HTMLButtonElement): Promise<void> {
  button.disabled = true;
  try {
    const response = await fetch(button.dataset.url ?? '', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: button.dataset.body ?? '{}',
    });
    const answer = await response.text();
    setText('action-note', response.ok ? '' : `${button.textContent}: ${answer}`);
  } catch (error) {
    setText('action-note', `${button.textContent}: ${String(error)}`);
  } finally {
    button.disabled = false;
  }
}

function renderState(state: DashboardState, events: readonly ClusterEvent[]): void {
  const { leader, load } = state;
  setText('summary', leader ? `leader: node ${leader.id}, term ${leader.term}` : 'no leader');
  const toggle = document.getElementById('load-toggle');
  if (toggle) {
    toggle.textContent = load.running ? 'stop write load' : 'start write load';
    toggle.dataset.body = JSON.stringify({ running: !load.running });
  }
  setText(
    'load-rates',
    load.running
      ? `${load.writesPerSec} writes/s, ${load.errorsPerSec} errors/s (aiming at ${load.targetPerSec}/s)`
      : 'write load off',
  );
  const container = document.getElementById('nodes');
  if (container) for (const node of state.nodes) updateCard(cardFor(container, node), node);
  const chart = document.getElementById('chart');
  if (chart) chart.innerHTML = chartSvg(state.chart.buckets, state.chart.bucketMs, events);
  renderFailovers(state.failovers);
}

function cardFor(container: HTMLElement, node: NodeCard): HTMLElement {
  const existing = container.querySelector<HTMLElement>(`[data-node-id="${node.id}"]`);
  if (existing) return existing;
  const card = document.createElement('article');
  card.className = 'card';
  card.dataset.nodeId = String(node.id);
  const button = (action: string, title: string) =>
    `<button data-action="${action}" data-url="/api/nodes/${node.id}/${action}" title="${title}">${action}</button>`;
  card.innerHTML = `<h2>node ${node.id} <span class="role" data-field="role"></span></h2>
<dl><dt>term</dt><dd data-field="term"></dd><dt>commit / applied</dt><dd data-field="indices"></dd>
<dt>its leader</dt><dd data-field="leader"></dd><dt>last contact</dt><dd data-field="contact"></dd>
<dt>health</dt><dd data-field="health"></dd><dt>pid</dt><dd data-field="pid"></dd></dl>
<p><a data-field="link" href="${escapeHtml(node.url)}">status page</a></p>
<div class="buttons">${button('kill', 'SIGKILL')}${button('restart', 'graceful stop, then start')}${button('pause', 'SIGSTOP')}${button('resume', 'SIGCONT')}${button('isolate', 'cut its peer links both ways')}</div>`;
  container.append(card);
  return card;
}

function updateCard(card: HTMLElement, node: NodeCard): void {
  const field = (name: string, text: string) => {
    const element = card.querySelector(`[data-field="${name}"]`);
    if (element) element.textContent = text;
  };
  card.dataset.role = node.answering && node.role ? node.role : 'unknown';
  card.dataset.process = node.process;
  card.dataset.health = node.health;
  card.classList.toggle('leader', node.isLeader);
  card.classList.toggle('faded', !node.answering);
  const role = node.process === 'exited' ? 'down' : `${node.role ?? '?'}${node.answering ? '' : '?'}`;
  field('role', role);
  field('term', node.term === null ? '-' : String(node.term));
  field('indices', node.commitIndex === null ? '-' : `${node.commitIndex} / ${node.appliedIndex}`);
  field('leader', node.leaderId === null ? 'none known' : `node ${node.leaderId}`);
  field(
    'contact',
    node.lastAnswerAgoMs === null ? 'never' : `${(node.lastAnswerAgoMs / 1000).toFixed(1)} s ago`,
  );
  field('health', node.process === 'exited' && node.exitedWith ? `down (${node.exitedWith})` : node.health);
  field('pid', node.pid === null ? '-' : String(node.pid));
}

/** Bars of acknowledged writes and errors per bucket; dashed lines at faults and new leaders. */
export function chartSvg(
  buckets: readonly WriteBucket[],
  bucketMs: number,
  events: readonly ClusterEvent[],
): string {
  const width = 720;
  const top = 14;
  const plotHeight = 120;
  const peak = Math.max(1, ...buckets.map((bucket) => bucket.ok + bucket.errors));
  const barWidth = width / Math.max(1, buckets.length);
  const heightOf = (count: number) => (count / peak) * plotHeight;
  const bars = buckets.map((bucket, i) => {
    const x = (i * barWidth).toFixed(1);
    const okTop = top + plotHeight - heightOf(bucket.ok);
    const ok = `<rect class="ok" x="${x}" y="${okTop.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${heightOf(bucket.ok).toFixed(1)}"/>`;
    if (bucket.errors === 0) return ok;
    const errorTop = okTop - heightOf(bucket.errors);
    return `${ok}<rect class="err" x="${x}" y="${errorTop.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${heightOf(bucket.errors).toFixed(1)}"/>`;
  });
  const firstMs = buckets[0]?.startMs ?? 0;
  const spanMs = buckets.length * bucketMs;
  const markers = events
    .filter((event) => (event.kind === 'fault' || event.kind === 'leader') && event.atMs >= firstMs)
    .map((event) => {
      const x = (((event.atMs - firstMs) / spanMs) * width).toFixed(1);
      return `<line class="${event.kind}" x1="${x}" x2="${x}" y1="${top}" y2="${top + plotHeight}"><title>${escapeHtml(event.text)}</title></line>`;
    });
  const bottom = top + plotHeight;
  return `<svg viewBox="0 0 ${width} ${bottom + 16}" role="img" aria-label="writes over the last minute">
<text x="2" y="10">${Math.round((peak * 1000) / bucketMs)}/s</text>${bars.join('')}${markers.join('')}
<line class="axis" x1="0" x2="${width}" y1="${bottom}" y2="${bottom}"/>
<text x="2" y="${bottom + 12}">-${spanMs / 1000} s</text><text x="${width - 2}" y="${bottom + 12}" text-anchor="end">now</text></svg>`;
}

function renderFailovers(failovers: readonly Failover[]): void {
  const list = document.getElementById('failovers');
  if (!list) return;
  list.innerHTML =
    failovers.length === 0
      ? '<li>no failover timed yet: kill, pause or isolate the leader (with the write load on)</li>'
      : [...failovers]
          .reverse()
          .map((failover) => `<li class="${failover.state}">${escapeHtml(failover.summary)}</li>`)
          .join('');
}

function showEvent(event: ClusterEvent): void {
  const list = document.getElementById('events');
  if (!list) return;
  const item = document.createElement('li');
  item.className = event.kind;
  item.textContent = `${formatClock(event.atMs)}  ${event.text}`;
  list.prepend(item);
  while (list.children.length > dashboardLimits.logEntriesShown) list.lastElementChild?.remove();
}

const browserFunctions = [
  startDashboard,
  setText,
  pressButton,
  renderState,
  cardFor,
  updateCard,
  chartSvg,
  renderFailovers,
  showEvent,
  escapeHtml,
  formatClock,
];

/** The source of /dashboard.js. */
export function dashboardScript(): string {
  const functions = browserFunctions.map((fn) => fn.toString()).join('\n\n');
  return `'use strict';\n(() => {\nconst dashboardLimits = ${JSON.stringify(browserLimits)};\n\n${functions}\n\nstartDashboard();\n})();\n`;
}
