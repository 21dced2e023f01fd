import { describe, expect, it } from 'vitest';
import { NemesisSpecError, nodeFlagsFor, parseNemesisSpec } from './registry.js';

describe('parseNemesisSpec', () => {
  it('reads families, variants, all and none', () => {
    expect(parseNemesisSpec('none')).toEqual([]);
    expect(parseNemesisSpec('all').map((nemesis) => nemesis.f)).toEqual([
      'kill',
      'pause',
      'partition',
      'slow',
      'clock',
    ]);
    expect(parseNemesisSpec('kill:majority, partition:leader').map((nemesis) => nemesis.name)).toEqual([
      'kill:majority',
      'partition:leader',
    ]);
    expect(parseNemesisSpec('kill').map((nemesis) => nemesis.name)).toEqual([
      'kill:one|leader|minority|majority',
    ]);
  });

  it('refuses what it does not know, saying what it knows', () => {
    expect(() => parseNemesisSpec('explode')).toThrow(NemesisSpecError);
    expect(() => parseNemesisSpec('kill:everyone')).toThrow(
      'kill takes one, leader, minority, majority, all',
    );
    expect(() => parseNemesisSpec('clock:fast')).toThrow('clock takes no variant');
  });

  it('asks the nodes for fault injection only when the clock nemesis runs', () => {
    expect(nodeFlagsFor(parseNemesisSpec('kill,partition'))).toEqual([]);
    expect(nodeFlagsFor(parseNemesisSpec('all'))).toEqual(['--enable-fault-injection']);
  });
});
