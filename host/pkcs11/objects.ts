// The PKCS#11 object model over device keys: CKA_LABEL and CKA_ID stored in the device label, each key as a public and a private object with truthful attributes, template matching and C_GenerateKeyPair templates (docs/pkcs11.md §4).
import { createHash } from 'node:crypto';
import { Alg, Capability, type KeyListEntry } from '../../firmware/protocol/index.ts';
import { MAX_LABEL } from '../../firmware/protocol/commands/limits.ts';
import { publicKeyToSpkiDer } from '../pubkey-format.ts';
import { CKA, CKK, CKM, CKO, CKR, UNAVAILABLE, valueKind } from './constants.ts';
import type { AttrValue, RpcAttribute } from './rpc.ts';

/** What the server knows of a device key: KEY_LIST's entry (or the cache's copy of it), and for a digest-form label the originals this server or its cache kept (§4.1). */
export type DeviceKey = Pick<KeyListEntry, 'keyId' | 'alg' | 'label' | 'publicKey' | 'capabilities' | 'sensitive' | 'neverExtractable' | 'local'> &
  KeyOriginals;

/** Separates CKA_LABEL from base64url(CKA_ID) in a device label (docs/pkcs11.md §4.1): U+001F, INFORMATION SEPARATOR ONE. */
export const ID_SEPARATOR = '\u001f';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const eq = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

/** Object handles: even for the public object of a key, odd for its private one; key ids are never reused, so neither are handles. */
export function publicHandle(keyId: number): number {
  return keyId * 2;
}
export function privateHandle(keyId: number): number {
  return keyId * 2 + 1;
}
export function handleKey(handle: number): { keyId: number; isPrivate: boolean } {
  return { keyId: Math.floor(handle / 2), isPrivate: handle % 2 === 1 };
}

/** The algorithms shown as objects: X25519 has no PKCS#11 function here (no ECDH), so it is not shown. */
export function shownAlg(alg: number, ecdsaOnly: boolean): boolean {
  if (alg === Alg.ECDSA_P256 || alg === Alg.ECDSA_SECP256K1) return true;
  return alg === Alg.ED25519 && !ecdsaOnly;
}

// ---------------------------------------------------------------- CKA_LABEL and CKA_ID in the device label

/** The longest CKA_LABEL or CKA_ID whose original bytes the public-object cache records for a digest-form key (docs/pkcs11.md §4.1). */
export const MAX_ORIGINAL = 1024;

/**
 * D(tag, x) of the digest form (docs/pkcs11.md §4.1): base64url without padding of the first 9 bytes of
 * SHA-256("tinyhsm-p11 " ‖ tag ‖ 0x00 ‖ x), 12 characters.
 */
export function p11Digest(tag: 'label' | 'id', x: Uint8Array): string {
  return createHash('sha256').update(`tinyhsm-p11 ${tag}\0`, 'latin1').update(x).digest().subarray(0, 9).toString('base64url');
}

/** The digests a digest-form device label holds: CKA_LABEL's, and CKA_ID's when one was given. */
export interface LabelDigests {
  label: string;
  id?: string;
}

/**
 * The digest form, recognised strictly: U+001F, 12 base64url characters, U+001F, then 12 more or nothing (every
 * 12-character base64url text is canonical: 9 bytes are 72 bits). Anything else is a plain label.
 */
export function digestForm(text: string): LabelDigests | undefined {
  const m = /^\u001f([A-Za-z0-9_-]{12})\u001f([A-Za-z0-9_-]{12})?$/.exec(text);
  if (!m) return undefined;
  return m[2] === undefined ? { label: m[1] } : { label: m[1], id: m[2] };
}

/** CKA_LABEL and CKA_ID as a template gave them, kept beside a digest-form key (the public-object cache, docs/pkcs11.md §4.2). */
export interface Originals {
  label: Uint8Array;
  id?: Uint8Array;
}

export type EncodedLabel = { ok: true; text: string; originals?: Originals } | { ok: false; why: string };

/**
 * The device label for a CKA_LABEL and an optional CKA_ID: the plain form (the label alone, or label ‖ U+001F ‖
 * base64url(id) without padding) when it fits in MAX_LABEL bytes, else the digest form U+001F ‖ D("label", label) ‖
 * U+001F ‖ D("id", id) (nothing after the second U+001F without an id), with the originals the caller should keep.
 * Refused (with the reason) when the label is not UTF-8 or holds U+001F.
 */
export function encodeDeviceLabel(label: Uint8Array | undefined, id: Uint8Array | undefined): EncodedLabel {
  let text: string;
  try {
    text = label ? utf8.decode(label) : '';
  } catch {
    return { ok: false, why: 'CKA_LABEL is not UTF-8 text' };
  }
  if (text.includes(ID_SEPARATOR)) return { ok: false, why: 'CKA_LABEL holds U+001F, which separates the label from CKA_ID on the device' };
  const full = id === undefined ? text : text + ID_SEPARATOR + Buffer.from(id).toString('base64url');
  if (Buffer.byteLength(full, 'utf8') <= MAX_LABEL) return { ok: true, text: full };
  const l = label ? new Uint8Array(label) : new Uint8Array(0);
  const digest = ID_SEPARATOR + p11Digest('label', l) + ID_SEPARATOR + (id === undefined ? '' : p11Digest('id', id));
  return { ok: true, text: digest, originals: id === undefined ? { label: l } : { label: l, id: new Uint8Array(id) } };
}

/** What a digest-form key may carry besides its device label: the originals the cache recorded (hex-decoded). */
export interface KeyOriginals {
  p11Label?: Uint8Array;
  p11Id?: Uint8Array;
}

/** The originals that still belong to a digest-form label: each kept only while its digest matches the label's. */
export function matchingOriginals(text: string, o: KeyOriginals): KeyOriginals {
  const d = digestForm(text);
  const out: KeyOriginals = {};
  if (!d) return out;
  if (o.p11Label && p11Digest('label', o.p11Label) === d.label) out.p11Label = o.p11Label;
  if (o.p11Id && d.id !== undefined && p11Digest('id', o.p11Id) === d.id) out.p11Id = o.p11Id;
  return out;
}

/**
 * CKA_LABEL and CKA_ID of a device key. Plain form: from its label, else the label whole and the key id as 2 bytes
 * big-endian. Digest form: the originals when given (and their digests match), else stand-ins: the label's UTF-8
 * bytes as stored, and the 9 digest bytes of the id part (the 2-byte key id without one); `digests` says which form.
 */
export function decodeDeviceLabel(text: string, keyId: number, originals: KeyOriginals = {}): { label: Uint8Array; id: Uint8Array; digests?: LabelDigests } {
  const keyIdBytes = Uint8Array.of(keyId >> 8, keyId & 0xff);
  const d = digestForm(text);
  if (d) {
    const o = matchingOriginals(text, originals);
    const label = o.p11Label ? new Uint8Array(o.p11Label) : new Uint8Array(Buffer.from(text, 'utf8'));
    const id = o.p11Id ? new Uint8Array(o.p11Id) : d.id !== undefined ? new Uint8Array(Buffer.from(d.id, 'base64url')) : keyIdBytes;
    return { label, id, digests: d };
  }
  const at = text.indexOf(ID_SEPARATOR);
  if (at >= 0) {
    const enc = text.slice(at + 1);
    if (/^[A-Za-z0-9_-]*$/.test(enc) && enc.length % 4 !== 1) {
      const id = Buffer.from(enc, 'base64url');
      if (id.toString('base64url') === enc) return { label: new Uint8Array(Buffer.from(text.slice(0, at), 'utf8')), id: new Uint8Array(id) };
    }
  }
  return { label: new Uint8Array(Buffer.from(text, 'utf8')), id: keyIdBytes };
}

/**
 * Carry the originals of `known` keys (the cache's, or this server's own) over to `fresh` ones from KEY_LIST: only to
 * the same key id with the same public key, and only those whose digests still match the device label.
 */
export function carryOriginals(fresh: readonly DeviceKey[], known: readonly (Pick<DeviceKey, 'keyId' | 'publicKey'> & KeyOriginals)[]): DeviceKey[] {
  return fresh.map((k) => {
    if (!digestForm(k.label)) return k;
    const out: DeviceKey = { ...k };
    for (const c of known) {
      if (c.keyId !== k.keyId || !eq(c.publicKey, k.publicKey)) continue;
      const o = matchingOriginals(k.label, c);
      if (o.p11Label && !out.p11Label) out.p11Label = o.p11Label;
      if (o.p11Id && !out.p11Id) out.p11Id = o.p11Id;
    }
    return out;
  });
}

// ---------------------------------------------------------------- curves

/** CKA_EC_PARAMS as DER: the named-curve OIDs (RFC 5480, RFC 8410). */
const P256_PARAMS = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
const SECP256K1_PARAMS = Uint8Array.of(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a);
const ED25519_PARAMS = Uint8Array.of(0x06, 0x03, 0x2b, 0x65, 0x70);
/** Other spellings of Ed25519 that programs send: PrintableString "edwards25519" (PKCS#11 3.0) and OpenSC's older OID 1.3.6.1.4.1.11591.15.1. */
const ED25519_NAME = Uint8Array.from([0x13, 0x0c, ...Buffer.from('edwards25519', 'latin1')]);
const ED25519_GNU_OID = Uint8Array.of(0x06, 0x09, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01);

export function ecParams(alg: number): Uint8Array {
  return alg === Alg.ED25519 ? ED25519_PARAMS : alg === Alg.ECDSA_SECP256K1 ? SECP256K1_PARAMS : P256_PARAMS;
}

/** The algorithm a CKA_EC_PARAMS names, if the device has it. */
export function algOfParams(p: Uint8Array): number | undefined {
  if (eq(p, P256_PARAMS)) return Alg.ECDSA_P256;
  if (eq(p, SECP256K1_PARAMS)) return Alg.ECDSA_SECP256K1;
  if (eq(p, ED25519_PARAMS) || eq(p, ED25519_NAME) || eq(p, ED25519_GNU_OID)) return Alg.ED25519;
  return undefined;
}

/** CKA_EC_POINT: the point as a DER OCTET STRING (PKCS#11 v2.40 §2.3.3; Ed25519: the 32-byte key, PKCS#11 3.0 §2.3.5). */
export function ecPoint(publicKey: Uint8Array): Uint8Array {
  return Uint8Array.from([0x04, publicKey.length, ...publicKey]);
}

// ---------------------------------------------------------------- attributes

/** Every attribute an object has, by type, and which of them are sensitive (asked for: CKR_ATTRIBUTE_SENSITIVE). */
export interface ObjectView {
  handle: number;
  attrs: Map<number, AttrValue>;
  sensitive: Set<number>;
  /** A digest-form key's digests: a template's CKA_LABEL or CKA_ID also matches by them (§4.1). */
  digests?: LabelDigests;
}

const bool = (b: boolean): AttrValue => b;
const ulong = (n: number | bigint): AttrValue => BigInt(n);

export function objectOf(key: DeviceKey, isPrivate: boolean): ObjectView {
  const ed = key.alg === Alg.ED25519;
  const { label, id, digests } = decodeDeviceLabel(key.label, key.keyId, key);
  const sign = (key.capabilities & Capability.SIGN) !== 0;
  const derive = (key.capabilities & Capability.DERIVE) !== 0;
  const a = new Map<number, AttrValue>();
  a.set(CKA.CLASS, ulong(isPrivate ? CKO.PRIVATE_KEY : CKO.PUBLIC_KEY));
  a.set(CKA.KEY_TYPE, ulong(ed ? CKK.EC_EDWARDS : CKK.EC));
  a.set(CKA.TOKEN, bool(true));
  a.set(CKA.PRIVATE, bool(isPrivate));
  a.set(CKA.MODIFIABLE, bool(false));
  a.set(CKA.COPYABLE, bool(false));
  a.set(CKA.DESTROYABLE, Uint8Array.of(1));
  a.set(CKA.LABEL, label);
  a.set(CKA.ID, id);
  a.set(CKA.LOCAL, bool(key.local));
  a.set(CKA.KEY_GEN_MECHANISM, key.local ? ulong(ed ? CKM.EC_EDWARDS_KEY_PAIR_GEN : CKM.EC_KEY_PAIR_GEN) : UNAVAILABLE);
  a.set(CKA.DERIVE, bool(derive));
  a.set(CKA.EC_PARAMS, ecParams(key.alg));
  a.set(CKA.EC_POINT, ecPoint(key.publicKey));
  a.set(CKA.PUBLIC_KEY_INFO, publicKeyToSpkiDer(key.alg, key.publicKey));
  a.set(CKA.SUBJECT, new Uint8Array(0));
  a.set(CKA.START_DATE, new Uint8Array(0));
  a.set(CKA.END_DATE, new Uint8Array(0));
  a.set(CKA.ENCRYPT, bool(false));
  a.set(CKA.WRAP, bool(false));
  const sensitive = new Set<number>();
  if (isPrivate) {
    a.set(CKA.SIGN, bool(sign));
    a.set(CKA.SIGN_RECOVER, bool(false));
    a.set(CKA.DECRYPT, bool(false));
    a.set(CKA.UNWRAP, bool(false));
    a.set(CKA.SENSITIVE, bool(key.sensitive));
    a.set(CKA.EXTRACTABLE, bool((key.capabilities & Capability.EXPORT_WRAPPED) !== 0));
    a.set(CKA.NEVER_EXTRACTABLE, bool(key.neverExtractable));
    // docs/security.md §6: an imported key was outside the device, so it is never "always sensitive"
    a.set(CKA.ALWAYS_SENSITIVE, bool(key.local && key.sensitive));
    a.set(CKA.ALWAYS_AUTHENTICATE, bool(false));
    a.set(CKA.WRAP_WITH_TRUSTED, bool(false));
    // the device never reveals a private key, whatever CKA_SENSITIVE says: asking for its value is refused
    a.set(CKA.VALUE, new Uint8Array(0));
    sensitive.add(CKA.VALUE);
  } else {
    a.set(CKA.VERIFY, bool(sign));
    a.set(CKA.VERIFY_RECOVER, bool(false));
  }
  const handle = isPrivate ? privateHandle(key.keyId) : publicHandle(key.keyId);
  return digests ? { handle, attrs: a, sensitive, digests } : { handle, attrs: a, sensitive };
}

function sameValue(type: number, want: RpcAttribute['value'], have: AttrValue): boolean {
  if (want === null) return false;
  const kind = valueKind(type);
  if (kind === 'byte') return typeof want === 'boolean' && want === have;
  if (kind === 'ulong') return typeof want === 'bigint' && want === have;
  return want instanceof Uint8Array && have instanceof Uint8Array && eq(want, have);
}

/** A digest-form key's CKA_LABEL or CKA_ID matched by its digest (an empty id part matches by equality only). */
function digestMatch(obj: ObjectView, type: number, want: RpcAttribute['value']): boolean {
  const d = obj.digests;
  if (!d || !(want instanceof Uint8Array)) return false;
  if (type === CKA.LABEL) return p11Digest('label', want) === d.label;
  if (type === CKA.ID) return d.id !== undefined && p11Digest('id', want) === d.id;
  return false;
}

/**
 * C_FindObjectsInit: an object matches when it has every attribute of the template with the same value (sensitive
 * ones never match); a digest-form key's CKA_LABEL and CKA_ID match their value or, by digest, the originals (§4.1).
 */
export function matches(obj: ObjectView, template: RpcAttribute[]): boolean {
  for (const t of template) {
    const have = obj.attrs.get(t.type);
    if (have === undefined || obj.sensitive.has(t.type)) return false;
    if (!sameValue(t.type, t.value, have) && !digestMatch(obj, t.type, t.value)) return false;
  }
  return true;
}

// ---------------------------------------------------------------- C_GenerateKeyPair

/** What a key-pair template asks the device for, or the CK_RV that refuses it and why. */
export type KeygenPlan =
  { ok: true; alg: number; label: string; capabilities: string[]; sensitive: boolean; originals?: Originals } | { ok: false; rv: number; why: string };

/** Attributes the device sets itself: a template may not give them. */
const READ_ONLY = new Set<number>([
  CKA.LOCAL,
  CKA.NEVER_EXTRACTABLE,
  CKA.ALWAYS_SENSITIVE,
  CKA.KEY_GEN_MECHANISM,
  CKA.EC_POINT,
  CKA.VALUE,
  CKA.PUBLIC_KEY_INFO,
]);
/** Functions no device key has: asking for them true is refused, false is what they are. */
const NEVER = new Set<number>([
  CKA.ENCRYPT,
  CKA.DECRYPT,
  CKA.WRAP,
  CKA.UNWRAP,
  CKA.SIGN_RECOVER,
  CKA.VERIFY_RECOVER,
  CKA.MODIFIABLE,
  CKA.COPYABLE,
  CKA.ALWAYS_AUTHENTICATE,
  CKA.WRAP_WITH_TRUSTED,
]);
/** Attributes a template may carry and this server honours or checks (others are CKR_ATTRIBUTE_TYPE_INVALID). */
const KNOWN = new Set<number>([
  CKA.CLASS,
  CKA.KEY_TYPE,
  CKA.TOKEN,
  CKA.PRIVATE,
  CKA.LABEL,
  CKA.ID,
  CKA.SENSITIVE,
  CKA.EXTRACTABLE,
  CKA.SIGN,
  CKA.VERIFY,
  CKA.DERIVE,
  CKA.EC_PARAMS,
  CKA.DESTROYABLE,
  CKA.SUBJECT,
  CKA.START_DATE,
  CKA.END_DATE,
]);

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * Read the two templates of C_GenerateKeyPair against what the device can honour (docs/pkcs11.md §4.3). Every refusal
 * names the attribute; nothing is sent to the device until the whole request is known to be honourable.
 */
export function planKeygen(mechanism: number, pub: RpcAttribute[], priv: RpcAttribute[], offered: readonly number[]): KeygenPlan {
  const no = (rv: number, why: string): KeygenPlan => ({ ok: false, rv, why });
  const get = (t: RpcAttribute[], type: number) => t.find((a) => a.type === type);
  for (const [name, t, cls] of [
    ['public', pub, CKO.PUBLIC_KEY],
    ['private', priv, CKO.PRIVATE_KEY],
  ] as const) {
    for (const a of t) {
      if (a.value === null) return no(CKR.ATTRIBUTE_VALUE_INVALID, `${name} template: attribute ${hex(a.type)} has no value`);
      if (READ_ONLY.has(a.type)) return no(CKR.ATTRIBUTE_READ_ONLY, `${name} template: attribute ${hex(a.type)} is set by the device`);
      if (NEVER.has(a.type)) {
        if (a.value === true) return no(CKR.ATTRIBUTE_VALUE_INVALID, `${name} template: attribute ${hex(a.type)} true cannot be honoured by the device`);
        continue;
      }
      if (!KNOWN.has(a.type)) return no(CKR.ATTRIBUTE_TYPE_INVALID, `${name} template: attribute ${hex(a.type)} is not supported`);
      if ((a.type === CKA.SUBJECT || a.type === CKA.START_DATE || a.type === CKA.END_DATE) && a.value instanceof Uint8Array && a.value.length > 0)
        return no(CKR.ATTRIBUTE_VALUE_INVALID, `${name} template: attribute ${hex(a.type)} cannot be stored on the device`);
    }
    const c = get(t, CKA.CLASS);
    if (c && c.value !== BigInt(cls)) return no(CKR.TEMPLATE_INCONSISTENT, `${name} template: CKA_CLASS ${String(c.value)} is not a ${name} key`);
    const tok = get(t, CKA.TOKEN);
    if (tok && tok.value !== true)
      return no(CKR.ATTRIBUTE_VALUE_INVALID, `${name} template: CKA_TOKEN false: the device keeps every key (session objects are not supported)`);
    const d = get(t, CKA.DESTROYABLE);
    if (d && d.value instanceof Uint8Array && d.value.length === 1 && d.value[0] === 0)
      return no(CKR.ATTRIBUTE_VALUE_INVALID, `${name} template: CKA_DESTROYABLE false: every device key can be deleted`);
  }
  const pp = get(pub, CKA.PRIVATE);
  if (pp && pp.value === true)
    return no(CKR.ATTRIBUTE_VALUE_INVALID, 'public template: CKA_PRIVATE true: public objects are listed before login (docs/pkcs11.md §4.2)');
  const sp = get(priv, CKA.PRIVATE);
  if (sp && sp.value !== true) return no(CKR.ATTRIBUTE_VALUE_INVALID, 'private template: CKA_PRIVATE false: a private key is only used after C_Login');

  // the curve: from CKA_EC_PARAMS (either template), checked against the mechanism
  const params = get(pub, CKA.EC_PARAMS) || get(priv, CKA.EC_PARAMS);
  let alg: number | undefined;
  if (params) {
    alg = algOfParams(params.value as Uint8Array);
    if (alg === undefined) return no(CKR.CURVE_NOT_SUPPORTED, 'CKA_EC_PARAMS names a curve the device does not have (P-256, secp256k1, Ed25519)');
  }
  if (mechanism === CKM.EC_KEY_PAIR_GEN) {
    if (alg === undefined) return no(CKR.TEMPLATE_INCOMPLETE, 'CKM_EC_KEY_PAIR_GEN needs CKA_EC_PARAMS (P-256 or secp256k1)');
    if (alg === Alg.ED25519) return no(CKR.TEMPLATE_INCONSISTENT, 'Ed25519 is made with CKM_EC_EDWARDS_KEY_PAIR_GEN');
  } else if (mechanism === CKM.EC_EDWARDS_KEY_PAIR_GEN) {
    if (alg !== undefined && alg !== Alg.ED25519) return no(CKR.TEMPLATE_INCONSISTENT, 'CKM_EC_EDWARDS_KEY_PAIR_GEN makes Ed25519 keys only');
    alg = Alg.ED25519;
  } else return no(CKR.MECHANISM_INVALID, `mechanism ${hex(mechanism)} does not make key pairs here`);
  if (!offered.includes(alg)) return no(CKR.MECHANISM_INVALID, 'the device does not offer this algorithm (its self-test failed or it is hidden)');
  const keyType = BigInt(alg === Alg.ED25519 ? CKK.EC_EDWARDS : CKK.EC);
  for (const t of [pub, priv]) {
    const k = get(t, CKA.KEY_TYPE);
    if (k && k.value !== keyType) return no(CKR.TEMPLATE_INCONSISTENT, 'CKA_KEY_TYPE does not match the mechanism');
  }

  // CKA_LABEL and CKA_ID: the same in both templates where both give them
  const pick = (type: number, name: string): { v?: Uint8Array; bad?: KeygenPlan } => {
    const a = get(priv, type);
    const b = get(pub, type);
    if (a && b && !eq(a.value as Uint8Array, b.value as Uint8Array)) return { bad: no(CKR.TEMPLATE_INCONSISTENT, `${name} differs between the two templates`) };
    const v = (a || b)?.value;
    return { v: v instanceof Uint8Array ? v : undefined };
  };
  const lab = pick(CKA.LABEL, 'CKA_LABEL');
  if (lab.bad) return lab.bad;
  const id = pick(CKA.ID, 'CKA_ID');
  if (id.bad) return id.bad;
  const text = encodeDeviceLabel(lab.v, id.v);
  if (!text.ok) return no(CKR.ATTRIBUTE_VALUE_INVALID, text.why);

  // the policy: sign and derive from CKA_SIGN / CKA_VERIFY / CKA_DERIVE, export-under-wrap from CKA_EXTRACTABLE
  const flag = (t: RpcAttribute[], type: number) => {
    const a = get(t, type);
    return a ? a.value === true : undefined;
  };
  const s1 = flag(priv, CKA.SIGN);
  const s2 = flag(pub, CKA.VERIFY);
  if (s1 !== undefined && s2 !== undefined && s1 !== s2)
    return no(CKR.TEMPLATE_INCONSISTENT, 'CKA_SIGN and CKA_VERIFY differ: the device has one sign capability for the pair');
  const d1 = flag(priv, CKA.DERIVE);
  const d2 = flag(pub, CKA.DERIVE);
  if (d1 !== undefined && d2 !== undefined && d1 !== d2) return no(CKR.TEMPLATE_INCONSISTENT, 'CKA_DERIVE differs between the two templates');
  const derive = d1 ?? d2 ?? false;
  const sign = s1 ?? s2 ?? !derive;
  if (derive && alg !== Alg.ECDSA_P256) return no(CKR.ATTRIBUTE_VALUE_INVALID, 'CKA_DERIVE true: only P-256 keys can derive on the device');
  if (!sign && !derive) return no(CKR.ATTRIBUTE_VALUE_INVALID, 'the templates allow neither signing nor deriving: the device makes no key without a use');
  const capabilities: string[] = [];
  if (sign) capabilities.push('sign');
  if (derive) capabilities.push('derive');
  if (flag(priv, CKA.EXTRACTABLE) === true) capabilities.push('export-under-wrap');
  const sensitive = flag(priv, CKA.SENSITIVE) ?? true;
  const plan: KeygenPlan = { ok: true, alg, label: text.text, capabilities, sensitive };
  return text.originals ? { ...plan, originals: text.originals } : plan;
}
