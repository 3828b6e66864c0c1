// Power-on known-answer self-tests (docs/architecture.md §3): SHA-256, then each mechanism's own test; only algorithms that pass are offered.
//
// Why: JerryScript 2.4 (Kaluma) has BigInt with a buggy division, so P-256 comes out wrong while
// Ed25519 and X25519 are right. Like a FIPS 140 module, the device checks every algorithm against
// published answers at boot, through whichever Crypto HAL is installed, and refuses to offer an
// algorithm that fails rather than hand out wrong signatures. The vectors and the steps of each test are in the
// algorithm's mechanism file (mechanisms/<alg>.ts).
import type { Crypto } from '../hal/index.ts';
import type { AlgId } from '../protocol/codes.ts';
import { equalBytes } from '../protocol/bytes.ts';
import { MECHANISMS } from './mechanisms/index.ts';
import { KatFailure, check, h } from './mechanisms/kat.ts';

export interface SelftestReport {
  /** Algorithms whose known-answer tests passed, in wire-id order. */
  readonly passed: AlgId[];
  /** Algorithm id → why it failed (only failed algorithms appear). */
  readonly failures: { [alg: number]: string };
  /** SHA-256 ("abc", FIPS 180-2 B.1) passed; the mechanisms that hash with it (ECDSA) depend on it. */
  readonly sha256: boolean;
}

// FIPS 180-2 Appendix B.1: SHA-256("abc").
const SHA_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

function katSha256(c: Crypto): void {
  check(equalBytes(c.sha256(h('616263')), h(SHA_ABC)), 'SHA-256("abc") does not match FIPS 180-2 B.1');
}

function describe(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.length > 80 ? m.slice(0, 80) + '…' : m;
}

function run(failures: { [alg: number]: string }, alg: number, test: () => void): boolean {
  try {
    test();
    return true;
  } catch (e) {
    // The known-answer keys are public test vectors, so an exception text carries no secret; keep it short.
    failures[alg] = e instanceof KatFailure ? e.reason : 'threw during the known-answer test: ' + describe(e);
    return false;
  }
}

/** Run every known-answer test once (at boot), in wire-id order. Never throws. */
export function runSelftests(c: Crypto): SelftestReport {
  const failures: { [alg: number]: string } = {};
  const passed: AlgId[] = [];
  const shaFailures: { [alg: number]: string } = {};
  const shaOk = run(shaFailures, 0, () => katSha256(c));
  for (let alg = 1; alg < MECHANISMS.length; alg++) {
    const m = MECHANISMS[alg];
    if (m === undefined) continue;
    if (m.sha256 && !shaOk) {
      // e.g. ECDSA signs SHA-256(message): a wrong hash means wrong signatures whatever the curve code does.
      failures[alg] = 'depends on SHA-256, which failed its self-test (' + shaFailures[0] + ')';
      continue;
    }
    if (run(failures, alg, () => m.selftest(c))) passed.push(alg as AlgId);
  }
  return { passed, failures, sha256: shaOk };
}
