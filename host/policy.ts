// Key policy on the host: capability names ↔ bits, the per-algorithm defaults, and a policy printed for people (docs/security.md §6).
import { ALG_NAMES, CAPABILITY_NAMES, Origin, nameOf, type KeyPolicy } from '../firmware/protocol/index.ts';
import { HsmError } from './errors.ts';

/** Every capability name the wire knows, in bit order: sign, derive, encrypt, decrypt, export-under-wrap. */
export const CAPABILITY_LIST: readonly string[] = Object.keys(CAPABILITY_NAMES)
  .map(Number)
  .sort((a, b) => a - b)
  .map((bit) => CAPABILITY_NAMES[bit]);

/**
 * What a key gets when its creator names no capabilities (docs/security.md §6): the algorithm's main use. The device's
 * own table (the device applies it by itself); the host needs it only to add one bit to the default set (`--exportable`).
 */
export { DEFAULT_CAPABILITIES } from '../firmware/protocol/algorithms.ts';

/** A capability set given as bits or as names ("sign", "derive", …) to its bits; throws BAD_ARGUMENT naming the bad entry. */
export function capabilityBits(c: number | readonly string[]): number {
  if (typeof c === 'number') {
    if (!Number.isInteger(c) || c < 0 || c > 0xff) throw new HsmError('BAD_ARGUMENT', `capabilities must be a bit set (0..255), got ${c}`);
    return c;
  }
  let bits = 0;
  for (const raw of c) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    const bit = Object.keys(CAPABILITY_NAMES).find((k) => CAPABILITY_NAMES[Number(k)] === name);
    if (bit === undefined) throw new HsmError('BAD_ARGUMENT', `unknown capability "${raw}": use ${CAPABILITY_LIST.join(', ')}`);
    bits |= Number(bit);
  }
  return bits;
}

/** The names of the bits set, in bit order; an unknown bit shows as its hex value. */
export function capabilityNames(bits: number): string[] {
  const out: string[] = [];
  for (let bit = 1; bit <= 0x80; bit <<= 1) if (bits & bit) out.push(CAPABILITY_NAMES[bit] || `0x${bit.toString(16)}`);
  return out;
}

/** A policy as plain JSON (capabilities by name). */
export function policyJson(p: KeyPolicy & { protected?: boolean }): {
  capabilities: string[];
  sensitive: boolean;
  touch: boolean;
  neverExtractable: boolean;
  local: boolean;
  protected: boolean;
} {
  return {
    capabilities: capabilityNames(p.capabilities),
    sensitive: p.sensitive,
    touch: p.touch,
    neverExtractable: p.neverExtractable,
    local: p.local,
    protected: p.protected === true,
  };
}

/** One line for people: "sign; sensitive; touch; never extractable; local; protected". */
export function policyText(p: KeyPolicy & { protected?: boolean }): string {
  const parts = [capabilityNames(p.capabilities).join(',') || 'no capabilities'];
  if (p.sensitive) parts.push('sensitive');
  if (p.touch) parts.push('touch');
  if (p.neverExtractable) parts.push('never extractable');
  parts.push(p.local ? 'local' : 'not local');
  if (p.protected === true) parts.push('protected');
  return parts.join('; ');
}

/** "generated" / "imported" (or the number). */
export function originName(origin: number): string {
  return String(nameOf(Origin, origin) || origin)
    .toLowerCase()
    .replace('_', '-');
}

/** An algorithm's name from its wire id. */
export function algNameOf(id: number): string {
  return ALG_NAMES[id] || String(id);
}
