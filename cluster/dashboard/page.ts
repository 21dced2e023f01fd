// The dashboard page: a static shell; /dashboard.js fills it from the event stream. Styles are
// inline and the script is served by the launcher, so it works offline.
import type { Member } from '../../src/node/members.js';
import { chartBucketMs } from './write-load.js';

const styles = `body{font-family:system-ui,sans-serif;margin:1.5rem;background:#fafafa;color:#222}
h1 small{font-weight:normal;font-size:1rem;color:#555;margin-left:1rem}
.toolbar{display:flex;flex-wrap:wrap;gap:.6rem;align-items:center;margin:.8rem 0}
#load-rates{font-variant-numeric:tabular-nums}#action-note{color:#b00}#connection{color:#777;font-size:.85rem}
.nodes{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:.8rem}
.card{background:#fff;border:2px solid #ccc;border-radius:.5rem;padding:.5rem .8rem}
.card h2{font-size:1.1rem;margin:.2rem 0}
.card.leader{border-color:#0a7d28;box-shadow:0 0 0 4px #0a7d2833;background:#f1fbf3}
.card.faded dd{color:#999}
.card[data-process=exited]{border-style:dashed;background:#f1f1f1}
.card[data-process=paused]{border-color:#b58900;background:#fffbea}
.card[data-health=isolated]{border-color:#cb4b16;background:#fff4ee}
.role{font-size:.75rem;padding:.1rem .4rem;border-radius:.3rem;background:#eee;vertical-align:middle}
.card.leader .role{background:#0a7d28;color:#fff}
dl{display:grid;grid-template-columns:auto 1fr;gap:.1rem .6rem;margin:.4rem 0;font-size:.9rem}
dt{color:#666}dd{margin:0;font-variant-numeric:tabular-nums}
.buttons{display:flex;flex-wrap:wrap;gap:.25rem}
#chart svg{width:100%;max-width:60rem;height:auto;background:#fff;border:1px solid #ddd}
rect.ok{fill:#2e9e4f}rect.err{fill:#d33}line.fault{stroke:#d33;stroke-dasharray:4 2}
line.leader{stroke:#268bd2;stroke-dasharray:2 2}line.axis{stroke:#999}svg text{font-size:10px;fill:#666}
#failovers li{font-family:ui-monospace,monospace}#failovers li.waiting{color:#b58900}
#events{max-height:22rem;overflow:auto;font-family:ui-monospace,monospace;font-size:.85rem;list-style:none;padding:0}
#events li.fault{color:#b00}#events li.leader,#events li.term{color:#0a6d9e}#events li.failover{font-weight:bold}`;

export function renderDashboardPage(members: readonly Member[]): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>raftkv cluster: ${members.length} nodes</title>
<style>${styles}</style></head>
<body>
<h1>raftkv cluster <small id="summary">connecting…</small> <small id="connection"></small></h1>
<div class="toolbar">
<button id="load-toggle" data-url="/api/load" data-body='{"running":true}'>start write load</button>
<button id="transfer" data-url="/api/transfer-leader" title="POST /admin/transfer-leader on the leader">transfer leadership</button>
<button id="heal" data-url="/api/heal" title="reconnect every link, resume paused nodes, start stopped ones">heal all</button>
<span id="load-rates"></span><span id="action-note"></span>
</div>
<section id="nodes" class="nodes" aria-label="nodes"></section>
<h2>Writes</h2>
<p>Acknowledged writes (green) and errors (red) per ${chartBucketMs} ms, the last minute; dashed lines mark faults (red) and new leaders (blue).</p>
<div id="chart"></div>
<ul id="failovers"></ul>
<h2>Events</h2>
<ol id="events"></ol>
<script src="/dashboard.js"></script>
</body></html>`;
}
