// The reason table (firmware/protocol/reasons.ts) is add-at-end and unique, every reason has a host rendering, and device bundles carry no error sentences (docs/protocol.md "Error details").
import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { Reason, reasonEntries } from '../../firmware/protocol/reasons.ts';
import { RENDER, renderReason } from '../../host/render.ts';
import { HsmError } from '../../host/errors.ts';
import { Status } from '../../firmware/protocol/codes.ts';

describe('Reason table', () => {
  it('codes are unique, consecutive from 1 and every name is distinct', () => {
    const e = reasonEntries();
    expect(e.length).toBeGreaterThanOrEqual(117);
    expect(e.map(([, c]) => c)).toEqual(e.map((_, i) => i + 1));
    expect(new Set(e.map(([n]) => n)).size).toBe(e.length);
  });

  it('every reason has a host rendering, and the table renders nothing else', () => {
    for (const [name, code] of reasonEntries()) expect(RENDER[code], name).toBeTypeOf('function');
    expect(Object.keys(RENDER).length).toBe(reasonEntries().length);
  });

  it('renders arguments into the sentence a person reads', () => {
    expect(renderReason(Reason.KEY_NOT_FOUND, [7])).toBe('no key with id 7');
    expect(renderReason(Reason.PIN_WRONG, [1, 5])).toBe('the user PIN is wrong; 5 tries left');
    expect(renderReason(Reason.MISSING_FIELD, [1], { command: 'SIGN' })).toBe('keyId (key 1) is required');
    expect(renderReason(Reason.CAPABILITY_NOT_FOR_ALG, [4, 1, 0x12])).toBe('capabilities: x25519 (4) cannot sign; it can have derive, export-under-wrap');
  });

  it('an unknown reason from a newer device renders generically with its number and arguments', () => {
    expect(renderReason(900, [3, 4])).toMatch(/^reason 900 \(3, 4\), which this host does not know/);
    const e = HsmError.fromStatus(Status.KEY_NOT_FOUND, 900, [3]);
    expect(e.statusName).toBe('KEY_NOT_FOUND');
    expect(e.reasonName).toBeUndefined();
    expect(e.message).toMatch(/^KEY_NOT_FOUND: reason 900 \(3\)/);
  });

  it('HsmError keeps the STATUS: message (hint) shape with the host rendering', () => {
    const e = HsmError.fromStatus(Status.KEY_NOT_FOUND, Reason.KEY_NOT_FOUND, [7], 'SIGN');
    expect(e.reason).toBe(Reason.KEY_NOT_FOUND);
    expect(e.reasonName).toBe('KEY_NOT_FOUND');
    expect(e.args).toEqual([7]);
    expect(e.message).toBe(`KEY_NOT_FOUND: no key with id 7 (${e.hint})`);
  });
});

describe('device bundles hold no error sentences', () => {
  // sentences every old error response carried; a bundle that builds one again fails here (run after `npm run build`)
  const OLD = [
    'no key with id',
    'key slots are in use',
    'PIN is wrong',
    'needs a secure session',
    'unknown parameter key',
    'expected a byte string',
    'truncated at byte',
    'open a new session',
    'power-cycle',
  ];
  for (const name of ['generic', 'kaluma', 'espruino']) {
    const file = new URL(`../../dist/tinyhsm-${name}.js`, import.meta.url);
    it.skipIf(!existsSync(file))(`dist/tinyhsm-${name}.js`, () => {
      const code = readFileSync(file, 'utf8');
      for (const s of OLD) expect(code.includes(s), s).toBe(false);
    });
  }
});
