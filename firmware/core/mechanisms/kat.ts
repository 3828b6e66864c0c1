// What the mechanisms' power-on known-answer tests share: hex constants, the check that names a failed step, a corrupted copy (docs/architecture.md §3).
import { fromHex } from '../../protocol/bytes.ts';

/** Thrown inside a test to name the step that went wrong (core/selftest.ts reports it as the algorithm's failure). */
export class KatFailure {
  constructor(readonly reason: string) {}
}

export function check(cond: boolean, reason: string): void {
  if (!cond) throw new KatFailure(reason);
}

/** A known answer's bytes. */
export function h(hex: string): Uint8Array {
  const b = fromHex(hex);
  if (!b) throw new Error('selftest: bad constant');
  return b;
}

/** A copy with the last bit flipped: what a verifier must refuse. */
export function flipped(b: Uint8Array): Uint8Array {
  const c = b.slice();
  c[c.length - 1] ^= 1;
  return c;
}
