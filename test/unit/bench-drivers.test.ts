// The load generator names each failed answer by its status and, where the body says, its error,
// so that a report's error counts tell one cause of a 503 from another.
import { describe, expect, it } from 'vitest';
import { failedAnswerKind } from '../../bench/kv-drivers.js';
import { RaftkvError } from '../../src/errors.js';

describe('failedAnswerKind', () => {
  it("names raftkv's errors by their stable code", () => {
    for (const code of ['NO_LEADER', 'BUSY', 'OUTCOME_UNKNOWN'] as const) {
      const error = new RaftkvError(code);
      expect(failedAnswerKind(error.status, JSON.stringify(error.toJSON()))).toBe(
        `http-${error.status} ${code}`,
      );
    }
  });

  it("names etcd's gateway errors by their text, cut short", () => {
    const body = {
      error: 'etcdserver: request timed out',
      code: 14,
      message: 'etcdserver: request timed out',
    };
    expect(failedAnswerKind(503, JSON.stringify(body))).toBe('http-503 etcdserver: request timed out');
    const long = { error: 'x'.repeat(200), code: 2 };
    expect(failedAnswerKind(500, JSON.stringify(long))).toBe(`http-500 ${'x'.repeat(60)}`);
  });

  it('falls back to the status for a body that names no error', () => {
    expect(failedAnswerKind(502, '<html>Bad Gateway</html>')).toBe('http-502');
    expect(failedAnswerKind(503, '')).toBe('http-503');
    expect(failedAnswerKind(503, '{"error":{"message":"no code"}}')).toBe('http-503');
    expect(failedAnswerKind(404, 'null')).toBe('http-404');
  });
});
