import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCodes, RaftkvError } from './errors.js';

describe('error registry', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Map(
    [...doc.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|/gm)].map((match) => [
      match[1]!,
      Number(match[2]),
    ]),
  );

  it('docs/errors.md lists exactly the codes of src/errors.ts, with the same statuses', () => {
    const registered = new Map(Object.entries(errorCodes).map(([code, entry]) => [code, entry.status]));
    expect(documented).toEqual(registered);
  });

  it('errors serialize to the documented shape', () => {
    const error = new RaftkvError('NO_LEADER', undefined, { leaderId: null });
    expect(error.status).toBe(503);
    expect(error.toJSON()).toEqual({
      error: { code: 'NO_LEADER', message: errorCodes.NO_LEADER.message, leaderId: null },
    });
  });
});
