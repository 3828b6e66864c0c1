// Per-key policy (docs/security.md §6): validation at creation against the algorithm's defaults and allowed capabilities, the tighten-only rule, and the use checks.
//
// A key's policy is stored with its record (records.ts) and authenticated with its sealed private key (the
// record's clear part is the AEAD's `bound`), so it changes only through KEY_SET_POLICY, and only tighter unless a
// quorum of officers approves (docs/quorum.md §3):
//   capabilities      may only lose bits
//   sensitive         may only become true (PKCS#11 CKA_SENSITIVE)
//   touch             may only become true (a button press per SIGN / ECDH)
//   neverExtractable  history, not a setting: true while export-under-wrap has never been set on a key that was
//                     generated here (PKCS#11 CKA_NEVER_EXTRACTABLE); clearing the bit later does not make it true
//                     again, and an imported key is never "never extractable": it existed outside the device
//   local             derived from origin === generated (PKCS#11 CKA_LOCAL); not stored
import { Capability, Origin, Status } from '../protocol/codes.ts';
import { ALLOWED_CAPABILITIES, DEFAULT_CAPABILITIES } from '../protocol/algorithms.ts';
import { LooseFlag, Reason } from '../protocol/reasons.ts';
import { type Err, type Result, err, ok } from '../protocol/result.ts';
import type { KeyPolicy, KeyPolicyRequest } from '../protocol/commands/policy.ts';

/** The policy as stored in a key record: everything but `local`, which origin gives. */
export interface StoredPolicy {
  readonly capabilities: number;
  readonly sensitive: boolean;
  readonly touch: boolean;
  readonly neverExtractable: boolean;
  /** Deleting the key needs M officer approvals; clearing this is a loosening (docs/quorum.md §3). Absent: false. */
  readonly protected?: boolean;
}

/** Why `caps` is not a set the algorithm can have (`allowed`, protocol/algorithms.ts), or undefined when it is. */
function capabilitiesRefused(alg: number, caps: number, allowed: number): Err | undefined {
  if ((caps & (Capability.ENCRYPT | Capability.DECRYPT)) !== 0) return err(Status.INVALID_PARAMETER, Reason.ENCRYPT_NOT_OFFERED, [alg, allowed]);
  const extra = caps & ~allowed;
  if (extra !== 0) return err(Status.INVALID_PARAMETER, Reason.CAPABILITY_NOT_FOR_ALG, [alg, extra, allowed]);
  return undefined;
}

/**
 * The policy of a key being created (KEY_GENERATE, KEY_IMPORT): defaults for absent fields, INVALID_PARAMETER for what
 * the algorithm cannot have (the defaults and what each algorithm can have are wire data: protocol/algorithms.ts).
 */
export function policyAtCreation(alg: number, req: KeyPolicyRequest & { protected?: boolean }, origin: number): Result<StoredPolicy> {
  const allowed = ALLOWED_CAPABILITIES[alg];
  if (allowed === undefined) return err(Status.UNSUPPORTED_ALGORITHM, Reason.ALG_NO_POLICY, [alg]);
  const caps = req.capabilities !== undefined ? req.capabilities : DEFAULT_CAPABILITIES[alg];
  if (caps === 0) return err(Status.INVALID_PARAMETER, Reason.NO_CAPABILITIES, [alg, allowed]);
  const refused = capabilitiesRefused(alg, caps, allowed);
  if (refused) return refused;
  return ok({
    capabilities: caps,
    sensitive: req.sensitive !== undefined ? req.sensitive : true,
    touch: req.touch !== undefined ? req.touch : false,
    neverExtractable: (caps & Capability.EXPORT_WRAPPED) === 0 && origin === Origin.GENERATED,
    protected: req.protected === true ? true : undefined,
  });
}

/**
 * KEY_SET_POLICY's rule: the new policy, or POLICY_LOOSENING with every capability added and flag cleared (and then
 * nothing changes). Absent fields stay as they are. Clearing every capability is allowed: it is the tightest
 * policy, and leaves a key that can still be listed, attested and deleted.
 */
export function tightenPolicy(keyId: number, current: StoredPolicy, req: KeyPolicyRequest & { protected?: boolean }): Result<StoredPolicy> {
  const caps = req.capabilities !== undefined ? req.capabilities : current.capabilities;
  const added = caps & ~current.capabilities;
  let cleared = 0;
  if (req.sensitive === false && current.sensitive) cleared |= LooseFlag.SENSITIVE;
  if (req.touch === false && current.touch) cleared |= LooseFlag.TOUCH;
  if (req.protected === false && current.protected === true) cleared |= LooseFlag.PROTECTED;
  if (added !== 0 || cleared !== 0) return err(Status.POLICY_LOOSENING, Reason.POLICY_LOOSENS, [keyId, added, cleared]);
  return ok({
    capabilities: caps,
    sensitive: current.sensitive || req.sensitive === true,
    touch: current.touch || req.touch === true,
    neverExtractable: current.neverExtractable,
    protected: current.protected === true || req.protected === true ? true : undefined,
  });
}

/**
 * A loosened policy (KEY_SET_POLICY with M officer approvals, docs/quorum.md §3): absent fields stay as they are, and
 * the capabilities must be ones the algorithm can have. neverExtractable stays false once export-under-wrap is set.
 */
export function loosenedPolicy(alg: number, current: StoredPolicy, req: KeyPolicyRequest & { protected?: boolean }): Result<StoredPolicy> {
  const allowed = ALLOWED_CAPABILITIES[alg];
  if (allowed === undefined) return err(Status.UNSUPPORTED_ALGORITHM, Reason.ALG_NO_POLICY, [alg]);
  const caps = req.capabilities !== undefined ? req.capabilities : current.capabilities;
  const refused = capabilitiesRefused(alg, caps, allowed);
  if (refused) return refused;
  return ok({
    capabilities: caps,
    sensitive: req.sensitive !== undefined ? req.sensitive : current.sensitive,
    touch: req.touch !== undefined ? req.touch : current.touch,
    neverExtractable: current.neverExtractable && (caps & Capability.EXPORT_WRAPPED) === 0,
    protected: (req.protected !== undefined ? req.protected : current.protected === true) ? true : undefined,
  });
}

export function samePolicy(a: StoredPolicy, b: StoredPolicy): boolean {
  return (
    a.capabilities === b.capabilities &&
    a.sensitive === b.sensitive &&
    a.touch === b.touch &&
    a.neverExtractable === b.neverExtractable &&
    (a.protected === true) === (b.protected === true)
  );
}

/** The policy as the wire shows it (KEY_LIST, KEY_PUBLIC, KEY_SET_POLICY, KEY_ATTEST): the stored fields and the derived `local`. */
export function wirePolicy(p: StoredPolicy, origin: number): KeyPolicy {
  // an imported key stored before the rule above still reads false (PKCS#11: CKA_NEVER_EXTRACTABLE is false for
  // a key that was not generated on the token)
  const local = origin === Origin.GENERATED;
  return { capabilities: p.capabilities, sensitive: p.sensitive, touch: p.touch, neverExtractable: p.neverExtractable && local, local };
}

/** The `protected` field of KEY_LIST, KEY_PUBLIC and KEY_SET_POLICY answers: present (true) only on a protected key. */
export function wireProtected(p: StoredPolicy): { protected?: boolean } {
  return p.protected === true ? { protected: true } : {};
}

/** The use check of SIGN (Capability.SIGN) and ECDH (Capability.DERIVE): undefined when allowed, else POLICY_DENIED. */
export function checkUse(keyId: number, p: StoredPolicy, capability: number): Err | undefined {
  if ((p.capabilities & capability) !== 0) return undefined;
  return err(Status.POLICY_DENIED, Reason.CAPABILITY_MISSING, [keyId, capability, p.capabilities]);
}
