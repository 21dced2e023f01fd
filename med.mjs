// med.mjs ab-log : medians per label and concurrency
import { readFileSync } from 'node:fs';
const rows = readFileSync(process.argv[2], 'utf8').trim().split('\n').map(l => { const [lab, ...kv] = l.trim().split(/\s+/); const o = { lab }; for (const x of kv) { const [k, v] = x.split('='); o[k] = Number(v); } return o; });
const med = a => { const s = [...a].sort((x, y) => x - y); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const g = new Map(); for (const r of rows) { if (!r.ops) continue; const k = `${r.lab} c=${r.c}`; if (!g.has(k)) g.set(k, []); g.get(k).push(r); }
for (const [k, rs] of g) console.log(k.padEnd(20), `n=${rs.length}`, ['ops', 'total', 'leader', 'follower'].map(f => `${f}=${med(rs.map(r => r[f]))} [${rs.map(r => r[f]).join(',')}]`).join('  '));
