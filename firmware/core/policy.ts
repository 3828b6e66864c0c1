// Per-key policy (docs/security.md §6, issue 4 §5): defaults and allowed capabilities per algorithm, validation at creation, the tighten-only rule, and the use checks.
//
// A key's policy is stored with its record (records.ts) and authenticated with its sealed private key (the
// record's clear part is the AEAD's `bound`), so it changes only through KEY_SET_POLICY, and only tighter:
//   capabilities      may only lose bits
//   sensitive         may only become true (PKCS#11 CKA_SENSITIVE)
//   touch             may only become true (a button press per SIGN / ECDH)
//   neverExtractable  history, not a setting: true while export-under-wrap has never been set on the key
//                     (PKCS#11 CKA_NEVER_EXTRACTABLE); clearing the bit later does not make it true again
//   local             derived from origin === generated (PKCS#11 CKA_LOCAL); not stored
import { Alg, ALL_CAPABILITIES, CAPABILITY_NAMES, Capability, Origin, Status, type AlgId } from '../protocol/codes.ts';
import { type Err, type Result, err, ok } from '../protocol/result.ts';
import type { KeyPolicy, KeyPolicyRequest } from '../protocol/messages/policy.ts';
import { algLabel } from './algorithms.ts';

/** The policy as stored in a key record: everything but `local`, which origin gives. */
export interface StoredPolicy {
  readonly capabilities: number;
  readonly sensitive: boolean;
  readonly touch: boolean;
  readonly neverExtractable: boolean;
}

/** What each algorithm can do at all (docs/security.md §6). No algorithm offers encrypt or decrypt yet. */
export const ALLOWED_CAPABILITIES: { readonly [alg: number]: number } = {
  [Alg.ED25519]: Capability.SIGN | Capability.EXPORT_WRAPPED,
  [Alg.ECDSA_P256]: Capability.SIGN | Capability.DERIVE | Capability.EXPORT_WRAPPED,
  [Alg.ECDSA_SECP256K1]: Capability.SIGN | Capability.EXPORT_WRAPPED,
  [Alg.X25519]: Capability.DERIVE | Capability.EXPORT_WRAPPED,
};

/** A new key's capabilities when the request gives none: the algorithm's main use, never export (DESIGN.md "Keys"). */
export const DEFAULT_CAPABILITIES: { readonly [alg: number]: number } = {
  [Alg.ED25519]: Capability.SIGN,
  [Alg.ECDSA_P256]: Capability.SIGN,
  [Alg.ECDSA_SECP256K1]: Capability.SIGN,
  [Alg.X25519]: Capability.DERIVE,
};

/** "sign, derive" for messages; "none" for 0. */
export function capabilityNames(bits: number): string {
  let s = '';
  for (let b = 1; b <= ALL_CAPABILITIES; b <<= 1)
    if ((bits & b) !== 0) s += (s ? ', ' : '') + (CAPABILITY_NAMES[b] !== undefined ? CAPABILITY_NAMES[b] : 'bit 0x' + b.toString(16));
  return s === '' ? 'none' : s;
}

/** The policy of a key being created (KEY_GENERATE, KEY_IMPORT): defaults for absent fields, INVALID_PARAMETER for what the algorithm cannot have. */
export function policyAtCreation(alg: AlgId, req: KeyPolicyRequest): Result<StoredPolicy> {
  const allowed = ALLOWED_CAPABILITIES[alg];
  if (allowed === undefined) return err(Status.UNSUPPORTED_ALGORITHM, 'no key policy is defined for ' + algLabel(alg));
  const caps = req.capabilities !== undefined ? req.capabilities : DEFAULT_CAPABILITIES[alg];
  if (caps === 0)
    return err(Status.INVALID_PARAMETER, 'capabilities: a new key needs at least one (' + algLabel(alg) + ' can have ' + capabilityNames(allowed) + '); leave the field out for the default');
  if ((caps & (Capability.ENCRYPT | Capability.DECRYPT)) !== 0)
    return err(Status.INVALID_PARAMETER, 'capabilities: no algorithm offers encrypt or decrypt yet; ' + algLabel(alg) + ' can have ' + capabilityNames(allowed));
  const extra = caps & ~allowed;
  if (extra !== 0)
    return err(Status.INVALID_PARAMETER, 'capabilities: ' + algLabel(alg) + ' cannot ' + capabilityNames(extra) + '; it can have ' + capabilityNames(allowed));
  return ok({
    capabilities: caps,
    sensitive: req.sensitive !== undefined ? req.sensitive : true,
    touch: req.touch !== undefined ? req.touch : false,
    neverExtractable: (caps & Capability.EXPORT_WRAPPED) === 0,
  });
}

/**
 * KEY_SET_POLICY's rule: the new policy, or POLICY_LOOSENING naming every field that would loosen (and then
 * nothing changes). Absent fields stay as they are. Clearing every capability is allowed: it is the tightest
 * policy, and leaves a key that can still be listed, attested and deleted.
 */
export function tightenPolicy(keyId: number, current: StoredPolicy, req: KeyPolicyRequest): Result<StoredPolicy> {
  const loose: string[] = [];
  const caps = req.capabilities !== undefined ? req.capabilities : current.capabilities;
  const added = caps & ~current.capabilities;
  if (added !== 0) loose.push('adds ' + capabilityNames(added));
  if (req.sensitive === false && current.sensitive) loose.push('clears sensitive');
  if (req.touch === false && current.touch) loose.push('clears touch');
  if (loose.length > 0)
    return err(
      Status.POLICY_LOOSENING,
      'key ' + keyId + ': a policy can only be tightened, and this ' + loose.join(' and ') + '; nothing was changed (loosening needs officer approval, a later feature)',
    );
  return ok({
    capabilities: caps,
    sensitive: current.sensitive || req.sensitive === true,
    touch: current.touch || req.touch === true,
    neverExtractable: current.neverExtractable,
  });
}

export function samePolicy(a: StoredPolicy, b: StoredPolicy): boolean {
  return a.capabilities === b.capabilities && a.sensitive === b.sensitive && a.touch === b.touch && a.neverExtractable === b.neverExtractable;
}

/** The policy as the wire shows it (KEY_LIST, KEY_PUBLIC, KEY_SET_POLICY, KEY_ATTEST): the stored fields and the derived `local`. */
export function wirePolicy(p: StoredPolicy, origin: number): KeyPolicy {
  return { capabilities: p.capabilities, sensitive: p.sensitive, touch: p.touch, neverExtractable: p.neverExtractable, local: origin === Origin.GENERATED };
}

/** The use check of SIGN (Capability.SIGN) and ECDH (Capability.DERIVE): undefined when allowed, else POLICY_DENIED. */
export function checkUse(keyId: number, p: StoredPolicy, capability: number, command: string): Err | undefined {
  if ((p.capabilities & capability) !== 0) return undefined;
  return err(
    Status.POLICY_DENIED,
    command + ' needs the ' + capabilityNames(capability) + ' capability and key ' + keyId + ' has ' + capabilityNames(p.capabilities) + ' (docs/security.md §6)',
  );
}
