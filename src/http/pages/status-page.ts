// The node's own page (GET /): who it is, who leads, its peers, recent elections, and a curl
// line for every route. Server-rendered, no scripts from anywhere else.
import type { RoleChange } from '../../node/node.js';
import type { StatusBody } from '../routes/status.js';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function curlExamples(base: string): string[] {
  return [
    `curl -X PUT ${base}/v1/kv/users/42 -H 'content-type: application/json' -d '{"value":{"name":"Ada"}}'`,
    `curl ${base}/v1/kv/users/42`,
    `curl '${base}/v1/kv/users/42?consistency=lease'`,
    `curl '${base}/v1/kv/users/42?consistency=stale'`,
    `curl -X PUT '${base}/v1/kv/users/42?ifRevision=7' -H 'content-type: application/json' -d '{"value":1}'`,
    `curl -X DELETE ${base}/v1/kv/users/42`,
    `curl '${base}/v1/kv?prefix=users/&limit=10'`,
    `curl ${base}/v1/status`,
    `curl ${base}/healthz`,
    `curl ${base}/readyz`,
    `curl ${base}/metrics`,
    `curl ${base}/admin/members   # admin routes answer loopback clients only`,
    `curl -X POST ${base}/admin/transfer-leader -H 'content-type: application/json' -d '{"to":2}'`,
    `curl -X POST ${base}/admin/faults -H 'content-type: application/json' -d '{"clockOffsetMs":500}'   # only with --enable-fault-injection`,
  ];
}

export function renderStatusPage(
  status: StatusBody,
  roleChanges: readonly RoleChange[],
  base: string,
  dashboardUrl?: string,
): string {
  const leader = status.peers.find((peer) => peer.id === status.leaderId);
  const leaderCell =
    status.leaderId === null
      ? 'none known'
      : status.leaderId === status.id
        ? `${status.id} (this node)`
        : `<a href="${escapeHtml(leader?.url ?? '#')}/">${status.leaderId}</a>`;
  const peers = status.peers
    .map((peer) => `<li><a href="${escapeHtml(peer.url)}/">node ${peer.id}</a></li>`)
    .join('');
  const changes = [...roleChanges]
    .reverse()
    .map(
      (change) =>
        `<tr><td>${new Date(change.atWallMs).toISOString()}</td><td>${change.term}</td><td>${change.role}</td><td>${change.leaderId || '-'}</td></tr>`,
    )
    .join('');
  const examples = curlExamples(base)
    .map((line) => `<pre>${escapeHtml(line)}</pre>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>raftkv node ${status.id}: ${status.role}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}td,th{padding:.2rem .8rem;text-align:left}
.role{font-weight:bold}.leader{color:#0a7d28}pre{background:#f4f4f4;padding:.4rem;overflow-x:auto}</style></head>
<body>
<h1>raftkv node ${status.id} <span class="role ${status.role}">${status.role}</span></h1>
${dashboardUrl ? `<p><a href="${escapeHtml(dashboardUrl)}">cluster dashboard</a></p>` : ''}
<table>
<tr><th>term</th><td>${status.term}</td></tr>
<tr><th>leader</th><td>${leaderCell}</td></tr>
<tr><th>commit index</th><td>${status.commitIndex}</td></tr>
<tr><th>applied index</th><td>${status.appliedIndex}</td></tr>
<tr><th>last index</th><td>${status.lastIndex}</td></tr>
<tr><th>pid</th><td>${status.pid}</td></tr>
</table>
<h2>Peers</h2><ul>${peers}</ul>
<h2>Recent role changes</h2>
<table><tr><th>when</th><th>term</th><th>role</th><th>leader</th></tr>${changes}</table>
<h2>Try it</h2>${examples}
<p><a href="/metrics">/metrics</a> · <a href="/v1/status">/v1/status</a></p>
</body></html>`;
}
