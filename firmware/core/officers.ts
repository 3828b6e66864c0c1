// The officers and their threshold M (docs/quorum.md §1), the device's single-use approval challenge, and the check of M approvals (§2).
//
// The record (store/record_keys.ts OFFICERS) holds public keys only: nothing in it is secret. A record that is there
// but does not decode is treated as officers whose approvals can never verify (fail closed): a gated command is then
// refused, never run on the SO's word alone. The challenge lives in RAM only: a power cycle forgets it, and the first
// request that presents at least M approvals uses it up, whatever the outcome, so an approval cannot be replayed.
import { Alg, Status } from '../protocol/codes.ts';
import { type Result, err, ok } from '../protocol/result.ts';
import { Reason } from '../protocol/reasons.ts';
import { cborDecode, cborEncode } from '../protocol/cbor.ts';
import { equalBytes } from '../protocol/bytes.ts';
import { type Schema, decodeMessage, encodeMessage } from '../protocol/schema.ts';
import { type Approval, CHALLENGE_BYTES, FINGERPRINT_BYTES, MAX_OFFICERS, approvalMessage, approvalParams } from '../protocol/commands/approvals.ts';
import { type Officer, OfficerSchema } from '../protocol/commands/officers_set.ts';
import type { Crypto, Rng } from '../hal/index.ts';
import type { Entry, Store } from './store/index.ts';
import { RecordKind, recordKey } from './store/record_keys.ts';

const OFFICERS_RECORD = recordKey(RecordKind.OFFICERS, 0);

const OfficersRecordSchema = [
  { key: 1, name: 'threshold', type: { t: 'uint', min: 1, max: MAX_OFFICERS } },
  { key: 2, name: 'officers', type: { t: 'list', max: MAX_OFFICERS, of: OfficerSchema } },
] as const satisfies Schema;

/**
 * A list of officers and a threshold as OFFICERS_SET and INIT take them (docs/quorum.md §1): a device that offers
 * Ed25519 (it could not check an approval otherwise), 1 ≤ threshold ≤ officers, no key twice.
 */
export function checkOfficerList(crypto: Crypto, ed25519Offered: boolean, threshold: number, list: Officer[]): Result<void> {
  if (!ed25519Offered) return err(Status.UNSUPPORTED_ALGORITHM, Reason.ALG_SELFTEST_FAILED, [Alg.ED25519]);
  if (threshold > list.length) return err(Status.INVALID_PARAMETER, Reason.THRESHOLD_OUT_OF_RANGE, [threshold, list.length]);
  for (let i = 0; i < list.length; i++) {
    for (let j = 0; j < i; j++) if (equalBytes(list[i].publicKey, list[j].publicKey)) return err(Status.INVALID_PARAMETER, Reason.OFFICER_KEY_REPEATED, [i, j]);
    // a share is sealed to the key's X25519 form (docs/quorum.md §8.1): it must be a point on the curve
    try {
      crypto.ed25519PublicToX25519(list[i].publicKey);
    } catch (e) {
      return err(Status.INVALID_PARAMETER, Reason.OFFICER_KEY_INVALID, [i]);
    }
  }
  return ok(undefined);
}

/** The two fields a gated request carries (protocol/commands/approvals.ts approvalFields). */
export interface Approvals {
  challenge?: Uint8Array;
  approvals?: Approval[];
}

export class Officers {
  private list: Officer[] = [];
  private m = 0;
  private unreadable = false;
  private challenge: Uint8Array | undefined = undefined;

  /** Read the officers record at boot. Never throws on any record content. */
  static load(store: Store): Officers {
    const o = new Officers();
    const v = store.get(OFFICERS_RECORD);
    if (v === undefined) return o;
    const d = cborDecode(v);
    const m = d.ok && d.value instanceof Map ? decodeMessage<{ threshold: number; officers: Officer[] }>(OfficersRecordSchema, d.value) : undefined;
    if (m === undefined || !m.ok || m.value.officers.length < m.value.threshold) {
      o.unreadable = true;
      return o;
    }
    o.list = m.value.officers;
    o.m = m.value.threshold;
    return o;
  }

  /** True when officers are enrolled (or their record is damaged): gated commands then need M approvals. */
  get enrolled(): boolean {
    return this.list.length > 0 || this.unreadable;
  }

  get threshold(): number {
    return this.m;
  }

  /**
   * The enrolled officers' public keys, for DOMAIN_CREATE (it seals a share to each): NO_OFFICERS [command]
   * while none are enrolled, OFFICERS_UNREADABLE when their record is damaged.
   */
  publicKeys(command: number): Result<Uint8Array[]> {
    if (this.unreadable) return err(Status.APPROVAL_INVALID, Reason.OFFICERS_UNREADABLE);
    if (this.list.length === 0) return err(Status.OPERATION_NOT_PERMITTED, Reason.NO_OFFICERS, [command]);
    const out: Uint8Array[] = [];
    for (let i = 0; i < this.list.length; i++) out.push(this.list[i].publicKey);
    return ok(out);
  }

  /** INFO's view: each officer's fingerprint (first 8 bytes of SHA-256 of its public key) and label, in index order. */
  describe(crypto: Crypto): { fingerprint: Uint8Array; label: string }[] {
    const out: { fingerprint: Uint8Array; label: string }[] = [];
    for (let i = 0; i < this.list.length; i++)
      out.push({ fingerprint: crypto.sha256(this.list[i].publicKey).subarray(0, FINGERPRINT_BYTES), label: this.list[i].label });
    return out;
  }

  /** A fresh challenge; it replaces any earlier one, which can then no longer be used. */
  newChallenge(rng: Rng): Uint8Array {
    const c = new Uint8Array(CHALLENGE_BYTES);
    rng.fill(c);
    this.challenge = c;
    return c.slice();
  }

  /**
   * Check a gated request's approvals (docs/quorum.md §2): at least M, each from a distinct enrolled officer, each a
   * strict Ed25519 signature of approvalMessage(device id, current challenge, command, SHA-256 of the parameters).
   * Fewer than M is refused before the challenge is touched, so more approvals can be collected for it; otherwise the
   * challenge is used up here, whatever follows. Every approval must verify: one bad approval refuses the request.
   * With no officers enrolled nothing is approved (NO_OFFICERS): zero approvals never pass for M of none.
   */
  check(crypto: Crypto, deviceId: Uint8Array, command: number, schema: Schema, req: Approvals): Result<void> {
    if (this.unreadable) return err(Status.APPROVAL_INVALID, Reason.OFFICERS_UNREADABLE);
    if (this.list.length === 0) return err(Status.OPERATION_NOT_PERMITTED, Reason.NO_OFFICERS, [command]);
    const { challenge, approvals } = req;
    const given = approvals === undefined || challenge === undefined ? 0 : approvals.length;
    if (approvals === undefined || challenge === undefined || given < this.m)
      return err(Status.APPROVAL_REQUIRED, Reason.APPROVALS_SHORT, [command, given, this.m]);
    const current = this.challenge;
    this.challenge = undefined;
    if (current === undefined) return err(Status.APPROVAL_INVALID, Reason.NO_CHALLENGE);
    if (!equalBytes(current, challenge)) return err(Status.APPROVAL_INVALID, Reason.CHALLENGE_MISMATCH);
    const message = approvalMessage(deviceId, current, command, crypto.sha256(approvalParams(schema, req)));
    const seen: boolean[] = [];
    for (let i = 0; i < approvals.length; i++) {
      const { officer, signature } = approvals[i];
      if (officer >= this.list.length) return err(Status.APPROVAL_INVALID, Reason.OFFICER_UNKNOWN, [officer, this.list.length]);
      if (seen[officer]) return err(Status.APPROVAL_INVALID, Reason.OFFICER_TWICE, [officer]);
      seen[officer] = true;
      if (!crypto.ed25519Verify(signature, message, this.list[officer].publicKey))
        return err(Status.APPROVAL_INVALID, Reason.APPROVAL_BAD_SIGNATURE, [officer, command]);
    }
    return ok(undefined);
  }

  /** The store entry that enrols these officers (checked by the caller: 1 ≤ threshold ≤ officers, distinct keys). */
  entry(threshold: number, officers: Officer[]): Entry {
    return { key: OFFICERS_RECORD, value: cborEncode(encodeMessage(OfficersRecordSchema, { threshold, officers })) };
  }

  /** After entry() was committed: RAM follows flash. */
  apply(threshold: number, officers: Officer[]): void {
    this.list = officers;
    this.m = threshold;
    this.unreadable = false;
  }

  /** The store entry that deletes the officers (RESET). */
  eraseEntry(): Entry {
    return { key: OFFICERS_RECORD, value: null };
  }

  /** After eraseEntry() was committed: no officers, no challenge. */
  forget(): void {
    this.list = [];
    this.m = 0;
    this.unreadable = false;
    this.challenge = undefined;
  }
}
