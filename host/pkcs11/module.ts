// One PKCS#11 application behind one p11-kit RPC connection: its own device link and HsmClient, its sessions, login state, searches and signing operations (docs/pkcs11.md §5).
import { createHash, type Hash } from 'node:crypto';
import { Alg, type InfoResponse } from '../../firmware/protocol/index.ts';
import { MAX_LABEL } from '../../firmware/protocol/commands/limits.ts';
import { HsmClient, type ClientOptions } from '../client.ts';
import type { HostTransport } from '../transports/types.ts';
import { CKA, CKF, CKM, CKR, CKS, CKU, RPC_HANDSHAKE, UNAVAILABLE, ckrName } from './constants.ts';
import { ckrOf } from './errors.ts';
import {
  MAX_ORIGINAL,
  carryOriginals,
  digestForm,
  handleKey,
  matches,
  objectOf,
  planKeygen,
  shownAlg,
  type DeviceKey,
  type KeyOriginals,
  type ObjectView,
} from './objects.ts';
import { encodeError, encodeResponse, valueLength, type AttributeAnswer, type OutArg, type RpcArg, type RpcAttribute, type RpcRequest } from './rpc.ts';
import type { PublicCache } from './cache.ts';

export interface ModuleOptions {
  /** Opens this application's own link to the device (its own HsmClient runs on it, so no login state is shared). */
  openLink(): Promise<HostTransport>;
  /** Options of the HsmClient made on the link (trust, knownDevices, …). */
  clientOptions?: ClientOptions;
  /** Hide Ed25519 objects and mechanisms (libp11 0.4.12 looks no further than the first key type it meets). */
  ecdsaOnly?: boolean;
  /** The public-object cache; undefined: none (nothing is listed before login). */
  cache?: PublicCache;
  log(line: string): void;
}

/** The one slot. */
const SLOT = 0n;
/** Sessions a device has (docs/session.md §6): reported as ulMaxRwSessionCount. */
const DEVICE_SESSIONS = 4;
/** A signature of any key here is 64 bytes (r‖s, or R‖S for Ed25519). */
const SIG_LEN = 64;
/** Longest ECDSA input to C_Sign (a digest; bits2int keeps the leftmost 32 bytes). */
const MAX_ECDSA_INPUT = 512;
/** Longest EdDSA message gathered through C_SignUpdate (the device streams it; this bounds the server's memory). */
const MAX_EDDSA_PARTS = 16 << 20;

interface SignOp {
  mech: number;
  key: DeviceKey;
  hash?: Hash;
  parts?: Uint8Array[];
  size: number;
  prehashed: boolean;
  context?: Uint8Array;
  /** C_SignUpdate was called: only C_SignFinal may finish it. */
  multi: boolean;
}

interface Session {
  rw: boolean;
  find?: { handles: number[]; pos: number };
  sign?: SignOp;
}

type Out = Uint8Array;

const u = (v: number | bigint): OutArg => ({ t: 'u', v });
type ArgValue<T extends RpcArg['t']> = Extract<RpcArg, { t: T }> extends { v: infer V } ? V : never;
/** An argument's value by its signature code (decodeRequest produced the codes of the call's signature, in order). */
function arg<T extends RpcArg['t']>(a: RpcArg, t: T): ArgValue<T> {
  if (a.t !== t) throw new Error(`argument of type ${a.t} where ${t} is expected`);
  return a.v as ArgValue<T>;
}
const num = (a: RpcArg): number => {
  const v = arg(a, 'u');
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v);
};

/** The mechanisms of an algorithm the device offers. */
function mechanismsOf(alg: number): number[] {
  if (alg === Alg.ED25519) return [CKM.EC_EDWARDS_KEY_PAIR_GEN, CKM.EDDSA];
  if (alg === Alg.ECDSA_P256 || alg === Alg.ECDSA_SECP256K1) return [CKM.EC_KEY_PAIR_GEN, CKM.ECDSA, CKM.ECDSA_SHA256];
  return [];
}

const EC_FLAGS = CKF.EC_F_P | CKF.EC_NAMEDCURVE | CKF.EC_UNCOMPRESS;
const MECH_INFO: { [m: number]: [number, number, number] } = {
  [CKM.EC_KEY_PAIR_GEN]: [256, 256, CKF.HW | CKF.GENERATE_KEY_PAIR | EC_FLAGS],
  [CKM.ECDSA]: [256, 256, CKF.HW | CKF.SIGN | EC_FLAGS],
  [CKM.ECDSA_SHA256]: [256, 256, CKF.HW | CKF.SIGN | EC_FLAGS],
  [CKM.EC_EDWARDS_KEY_PAIR_GEN]: [255, 255, CKF.HW | CKF.GENERATE_KEY_PAIR],
  [CKM.EDDSA]: [255, 255, CKF.HW | CKF.SIGN],
};

/** ECDSA's bits2int for a 256-bit order (FIPS 186-5 §6.4.1, RFC 6979 §2.3.2): the leftmost 32 bytes, or the value left-padded. */
export function ecdsaDigest(data: Uint8Array): Uint8Array {
  if (data.length >= 32) return data.slice(0, 32);
  const out = new Uint8Array(32);
  out.set(data, 32 - data.length);
  return out;
}

/**
 * CK_EDDSA_PARAMS as this server reads them from the mechanism parameter: byte phFlag ‖ uint32 (big-endian) context
 * length ‖ context. No p11-kit release serializes CKM_EDDSA's parameter (docs/pkcs11.md §3 item 5), so this form is ours.
 */
export function parseEddsaParams(p: Uint8Array | null): { ok: true; prehashed: boolean; context?: Uint8Array } | { ok: false; why: string } {
  if (p === null || p.length === 0) return { ok: true, prehashed: false };
  if (p.length < 5) return { ok: false, why: `CK_EDDSA_PARAMS of ${p.length} bytes: expected phFlag, a 4-byte length and the context` };
  const n = new DataView(p.buffer, p.byteOffset, p.length).getUint32(1);
  if (n !== p.length - 5) return { ok: false, why: `CK_EDDSA_PARAMS announce a ${n}-byte context and carry ${p.length - 5}` };
  if (n > 255) return { ok: false, why: `an Ed25519 context is at most 255 bytes, got ${n}` };
  const prehashed = p[0] !== 0;
  if (!prehashed && n > 0) return { ok: false, why: 'Ed25519ctx (a context without phFlag) is not offered by the device: use Ed25519ph or pure Ed25519' };
  return { ok: true, prehashed, context: n > 0 ? p.slice(5) : undefined };
}

export class Pkcs11Module {
  private client: HsmClient | undefined;
  private info: InfoResponse | undefined;
  private loggedIn = false;
  private sessions = new Map<number, Session>();
  private nextSession = 1;
  /** The device's keys at the last KEY_LIST (while logged in). */
  private keys: DeviceKey[] = [];
  /** Digest-form keys this application made, with the original CKA_LABEL and CKA_ID (docs/pkcs11.md §4.1), kept beside the cache. */
  private made: (Pick<DeviceKey, 'keyId' | 'publicKey'> & KeyOriginals)[] = [];

  constructor(private readonly opts: ModuleOptions) {}

  /** Answer one decoded request; never throws (a failure is an error reply). */
  async handle(req: RpcRequest): Promise<Out> {
    try {
      return await this.dispatch(req);
    } catch (e) {
      const rv = ckrOf(e);
      this.opts.log(`${req.name}: ${(e as Error).message} → ${ckrName(rv)}`);
      return encodeError(rv);
    }
  }

  /** The connection ended: close the device session and the link (as C_Finalize would). */
  async close(): Promise<void> {
    await this.finalize();
  }

  private ok(req: RpcRequest, args: OutArg[] = []): Out {
    return encodeResponse(req.callId, args);
  }

  private refuse(req: RpcRequest, rv: number, why?: string): Out {
    if (why) this.opts.log(`${req.name}: ${why} → ${ckrName(rv)}`);
    return encodeError(rv);
  }

  private async dispatch(req: RpcRequest): Promise<Out> {
    const a = req.args;
    if (req.name === 'C_Initialize') return this.initialize(req);
    if (!this.client) return this.refuse(req, CKR.CRYPTOKI_NOT_INITIALIZED);
    switch (req.name) {
      case 'C_Finalize':
        await this.finalize();
        return this.ok(req);
      case 'C_GetInfo':
        return this.ok(req, [
          { t: 'v', major: 2, minor: 40 },
          { t: 's', text: 'tinyhsm', width: 32 },
          u(0),
          { t: 's', text: 'tinyhsm over p11-kit RPC', width: 32 },
          { t: 'v', major: 1, minor: 0 },
        ]);
      case 'C_GetSlotList':
        return this.ulongList(req, arg(a[1], 'fu'), [SLOT]);
      case 'C_GetSlotInfo': {
        if (arg(a[0], 'u') !== SLOT) return this.refuse(req, CKR.SLOT_ID_INVALID);
        const fw = this.firmwareVersion();
        return this.ok(req, [
          { t: 's', text: `tinyhsm ${this.client.transport.description || ''}`.trim(), width: 64 },
          { t: 's', text: 'tinyhsm', width: 32 },
          u(CKF.TOKEN_PRESENT | CKF.REMOVABLE_DEVICE | CKF.HW_SLOT),
          { t: 'v', major: 0, minor: 0 },
          { t: 'v', major: fw[0], minor: fw[1] },
        ]);
      }
      case 'C_GetTokenInfo':
        if (arg(a[0], 'u') !== SLOT) return this.refuse(req, CKR.SLOT_ID_INVALID);
        return this.tokenInfo(req);
      case 'C_GetMechanismList':
        if (arg(a[0], 'u') !== SLOT) return this.refuse(req, CKR.SLOT_ID_INVALID);
        return this.ulongList(req, arg(a[1], 'fu'), this.mechanisms().map(BigInt));
      case 'C_GetMechanismInfo': {
        if (arg(a[0], 'u') !== SLOT) return this.refuse(req, CKR.SLOT_ID_INVALID);
        const m = num(a[1]);
        if (!this.mechanisms().includes(m)) return this.refuse(req, CKR.MECHANISM_INVALID);
        const [lo, hi, flags] = MECH_INFO[m];
        return this.ok(req, [u(lo), u(hi), u(flags)]);
      }
      case 'C_OpenSession':
        return this.openSession(req, arg(a[0], 'u'), num(a[1]));
      case 'C_CloseSession': {
        const h = num(a[0]);
        if (!this.sessions.has(h)) return this.refuse(req, CKR.SESSION_HANDLE_INVALID);
        this.sessions.delete(h);
        if (this.sessions.size === 0) await this.logoutQuietly();
        return this.ok(req);
      }
      case 'C_CloseAllSessions':
        if (arg(a[0], 'u') !== SLOT) return this.refuse(req, CKR.SLOT_ID_INVALID);
        this.sessions.clear();
        await this.logoutQuietly();
        return this.ok(req);
      case 'C_GetSessionInfo': {
        const s = this.sessions.get(num(a[0]));
        if (!s) return this.refuse(req, CKR.SESSION_HANDLE_INVALID);
        const state = s.rw ? (this.loggedIn ? CKS.RW_USER : CKS.RW_PUBLIC) : this.loggedIn ? CKS.RO_USER : CKS.RO_PUBLIC;
        return this.ok(req, [u(SLOT), u(state), u(CKF.SERIAL_SESSION | (s.rw ? CKF.RW_SESSION : 0)), u(0)]);
      }
      case 'C_Login':
        return this.login(req, num(a[0]), num(a[1]), arg(a[2], 'ay'));
      case 'C_Logout': {
        if (!this.sessions.has(num(a[0]))) return this.refuse(req, CKR.SESSION_HANDLE_INVALID);
        if (!this.loggedIn) return this.refuse(req, CKR.USER_NOT_LOGGED_IN);
        await this.logoutQuietly();
        return this.ok(req);
      }
      case 'C_FindObjectsInit':
        return this.findInit(req, num(a[0]), arg(a[1], 'aA'));
      case 'C_FindObjects': {
        const s = this.sessions.get(num(a[0]));
        if (!s) return this.refuse(req, CKR.SESSION_HANDLE_INVALID);
        if (!s.find) return this.refuse(req, CKR.OPERATION_NOT_INITIALIZED);
        const max = arg(a[1], 'fu');
        const out = s.find.handles.slice(s.find.pos, s.find.pos + max);
        s.find.pos += out.length;
        return this.ok(req, [{ t: 'au', v: out.map(BigInt), length: out.length }]);
      }
      case 'C_FindObjectsFinal': {
        const s = this.sessions.get(num(a[0]));
        if (!s) return this.refuse(req, CKR.SESSION_HANDLE_INVALID);
        if (!s.find) return this.refuse(req, CKR.OPERATION_NOT_INITIALIZED);
        s.find = undefined;
        return this.ok(req);
      }
      case 'C_GetAttributeValue':
        return this.getAttributes(req, num(a[0]), num(a[1]), arg(a[2], 'fA'));
      case 'C_SignInit':
        return this.signInit(req, num(a[0]), arg(a[1], 'M'), num(a[2]));
      case 'C_Sign':
        return this.sign(req, num(a[0]), arg(a[1], 'ay'), arg(a[2], 'fy'));
      case 'C_SignUpdate':
        return this.signUpdate(req, num(a[0]), arg(a[1], 'ay'));
      case 'C_SignFinal':
        return this.signFinal(req, num(a[0]), arg(a[1], 'fy'));
      case 'C_GenerateKeyPair':
        return this.generateKeyPair(req, num(a[0]), arg(a[1], 'M'), arg(a[2], 'aA'), arg(a[3], 'aA'));
      case 'C_DestroyObject':
        return this.destroy(req, num(a[0]), num(a[1]));
      default:
        return this.refuse(req, CKR.FUNCTION_NOT_SUPPORTED, 'not offered by this server');
    }
  }

  // ---------------------------------------------------------------- general

  private async initialize(req: RpcRequest): Promise<Out> {
    const hs = arg(req.args[0], 'ay');
    if (!hs || Buffer.from(hs).toString('latin1') !== RPC_HANDSHAKE) return this.refuse(req, CKR.GENERAL_ERROR, "the handshake string is not p11-kit's");
    if (this.client) return this.refuse(req, CKR.CRYPTOKI_ALREADY_INITIALIZED);
    let transport: HostTransport;
    try {
      transport = await this.opts.openLink();
    } catch (e) {
      return this.refuse(req, CKR.DEVICE_REMOVED, `cannot open the device: ${(e as Error).message}`);
    }
    const client = new HsmClient(transport, { closeOnExit: false, ...this.opts.clientOptions });
    try {
      this.info = await client.info();
    } catch (e) {
      await client.close().catch(() => {});
      return this.refuse(req, ckrOf(e), `INFO failed: ${(e as Error).message}`);
    }
    this.client = client;
    return this.ok(req);
  }

  private async finalize(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.sessions.clear();
    this.loggedIn = false;
    this.keys = [];
    this.made = [];
    if (c) await c.close().catch((e: Error) => this.opts.log(`closing the device link: ${e.message}`));
  }

  private ulongList(req: RpcRequest, room: number, list: bigint[]): Out {
    // room 0: the caller asked for the count alone; too little room: CKR_BUFFER_TOO_SMALL with the count (rpc-server.c proto_write_ulong_array)
    if (room === 0 || room < list.length) return this.ok(req, [{ t: 'au', v: null, length: list.length }]);
    return this.ok(req, [{ t: 'au', v: list, length: list.length }]);
  }

  private offered(): number[] {
    const algs = this.info ? this.info.algorithms : [];
    return algs.filter((x) => shownAlg(x, this.opts.ecdsaOnly === true));
  }

  private mechanisms(): number[] {
    const out: number[] = [];
    for (const alg of this.offered()) for (const m of mechanismsOf(alg)) if (!out.includes(m)) out.push(m);
    return out.sort((x, y) => x - y);
  }

  private firmwareVersion(): [number, number] {
    const m = /^(\d+)\.(\d+)/.exec(this.info ? this.info.firmwareVersion : '');
    return m ? [Math.min(255, Number(m[1])), Math.min(255, Number(m[2]))] : [0, 0];
  }

  private async tokenInfo(req: RpcRequest): Promise<Out> {
    const info = await this.client!.info();
    this.info = info;
    let flags: number = CKF.LOGIN_REQUIRED;
    if (info.initialized) flags |= CKF.USER_PIN_INITIALIZED | CKF.TOKEN_INITIALIZED;
    // the tries INFO reports (docs/security.md §4): 8 at most; a lock until power cycle refuses every PIN now
    const tries = (left: number | undefined, low: number, last: number, locked: number) => {
      if (left === undefined) return 0;
      if (left === 0 || info.pinLocked) return locked;
      return left === 1 ? low | last : left < 8 ? low : 0;
    };
    flags |= tries(info.userPinTries, CKF.USER_PIN_COUNT_LOW, CKF.USER_PIN_FINAL_TRY, CKF.USER_PIN_LOCKED);
    flags |= tries(info.soPinTries, CKF.SO_PIN_COUNT_LOW, CKF.SO_PIN_FINAL_TRY, CKF.SO_PIN_LOCKED);
    const rw = [...this.sessions.values()].filter((s) => s.rw).length;
    const fw = this.firmwareVersion();
    return this.ok(req, [
      { t: 's', text: info.label || 'tinyhsm', width: 32 },
      { t: 's', text: 'tinyhsm', width: 32 },
      { t: 's', text: info.platform, width: 16 },
      { t: 's', text: Buffer.from(info.deviceId.subarray(0, 8)).toString('hex'), width: 16 },
      u(flags),
      u(0), // ulMaxSessionCount: CK_EFFECTIVELY_INFINITE (sessions live in this server)
      u(this.sessions.size),
      u(DEVICE_SESSIONS),
      u(rw),
      u(64),
      u(6),
      u(UNAVAILABLE),
      u(UNAVAILABLE),
      u(UNAVAILABLE),
      u(UNAVAILABLE),
      { t: 'v', major: 0, minor: 0 },
      { t: 'v', major: fw[0], minor: fw[1] },
      { t: 's', text: '', width: 16 },
    ]);
  }

  private openSession(req: RpcRequest, slot: bigint, flags: number): Out {
    if (slot !== SLOT) return this.refuse(req, CKR.SLOT_ID_INVALID);
    if (flags < 0 || (flags & CKF.SERIAL_SESSION) === 0) return this.refuse(req, CKR.SESSION_PARALLEL_NOT_SUPPORTED);
    const rw = (flags & CKF.RW_SESSION) !== 0;
    if (rw && [...this.sessions.values()].filter((s) => s.rw).length >= DEVICE_SESSIONS)
      return this.refuse(req, CKR.SESSION_COUNT, `at most ${DEVICE_SESSIONS} read/write sessions (ulMaxRwSessionCount)`);
    const h = this.nextSession++;
    this.sessions.set(h, { rw });
    return this.ok(req, [u(h)]);
  }

  // ---------------------------------------------------------------- login

  private async login(req: RpcRequest, session: number, userType: number, pin: Uint8Array | null): Promise<Out> {
    if (!this.sessions.has(session)) return this.refuse(req, CKR.SESSION_HANDLE_INVALID);
    if (userType === CKU.CONTEXT_SPECIFIC) return this.refuse(req, CKR.OPERATION_NOT_INITIALIZED, 'no key here needs CKA_ALWAYS_AUTHENTICATE');
    if (userType !== CKU.USER)
      return this.refuse(req, CKR.USER_TYPE_INVALID, userType === CKU.SO ? 'the SO role administers the device through `tinyhsm`, not PKCS#11' : undefined);
    if (this.loggedIn) return this.refuse(req, CKR.USER_ALREADY_LOGGED_IN);
    if (pin === null) return this.refuse(req, CKR.ARGUMENTS_BAD, 'no PIN given (there is no protected authentication path)');
    if (pin.length < 6 || pin.length > 64) return this.refuse(req, CKR.PIN_INCORRECT, `a PIN is 6 to 64 bytes, this one is ${pin.length} (no try spent)`);
    const copy = new Uint8Array(pin);
    try {
      await this.client!.login('user', copy);
    } catch (e) {
      return this.refuse(req, ckrOf(e), `login refused: ${(e as Error).message}`);
    } finally {
      copy.fill(0);
    }
    this.loggedIn = true;
    const keys = await this.refreshKeys(true);
    const standIns = keys.filter((k) => digestForm(k.label) && !k.p11Label).map((k) => k.keyId);
    if (standIns.length > 0)
      this.opts.log(
        `key${standIns.length > 1 ? 's' : ''} ${standIns.join(', ')}: CKA_LABEL and CKA_ID are stored as digests and the public-object cache holds no originals for them, so their original values cannot be read back (stand-ins are); searches by the originals still work (docs/pkcs11.md §4.1)`,
      );
    return this.ok(req);
  }

  private async logoutQuietly(): Promise<void> {
    if (!this.loggedIn) return;
    this.loggedIn = false;
    this.keys = [];
    for (const s of this.sessions.values()) s.sign = undefined;
    try {
      await this.client!.logout();
    } catch (e) {
      this.opts.log(`LOGOUT failed (${(e as Error).message}); the device ends the session at its idle timeout`);
    }
  }

  // ---------------------------------------------------------------- objects

  /**
   * KEY_LIST while logged in (and, when `store`, the cache written): the keys shown as objects, digest-form ones with
   * the originals this application or the cache kept for the same key id and public key (docs/pkcs11.md §4.1).
   */
  private async refreshKeys(store: boolean): Promise<DeviceKey[]> {
    const list = await this.client!.listKeys();
    let keys = carryOriginals(
      list.filter((k) => shownAlg(k.alg, this.opts.ecdsaOnly === true)),
      this.made,
    );
    // the cache file is read only when a digest-form key still lacks its originals
    if (this.opts.cache && this.info && keys.some((k) => digestForm(k.label) && !k.p11Label))
      keys = carryOriginals(keys, this.opts.cache.keys(Buffer.from(this.info.deviceId).toString('hex')));
    this.keys = keys;
    if (store && this.opts.cache && this.info) this.opts.cache.store(Buffer.from(this.info.deviceId).toString('hex'), this.keys);
    return this.keys;
  }

  /** The objects visible now: every key's two objects while logged in, the cached public ones before (docs/pkcs11.md §4.2). */
  private async visible(refresh: boolean): Promise<ObjectView[]> {
    if (this.loggedIn) {
      const keys = refresh ? await this.refreshKeys(false) : this.keys;
      return keys.flatMap((k) => [objectOf(k, false), objectOf(k, true)]);
    }
    if (!this.opts.cache || !this.info) return [];
    return this.opts.cache
      .keys(Buffer.from(this.info.deviceId).toString('hex'))
      .filter((k) => shownAlg(k.alg, this.opts.ecdsaOnly === true))
      .map((k) => objectOf(k, false));
  }

  private async object(handle: number): Promise<ObjectView | undefined> {
    let found = (await this.visible(false)).find((o) => o.handle === handle);
    // a key made by another application since the last listing
    if (!found && this.loggedIn) found = (await this.visible(true)).find((o) => o.handle === handle);
    return found;
  }

  private async findInit(req: RpcRequest, session: number, template: RpcAttribute[]): Promise<Out> {
    const s = this.sessions.get(session);
    if (!s) return this.refuse(req, CKR.SESSION_HANDLE_INVALID);
    if (s.find) return this.refuse(req, CKR.OPERATION_ACTIVE);
    const objs = await this.visible(true);
    s.find = { handles: objs.filter((o) => matches(o, template)).map((o) => o.handle), pos: 0 };
    return this.ok(req);
  }

  private async getAttributes(req: RpcRequest, session: number, handle: number, want: { type: number; length: number }[]): Promise<Out> {
    if (!this.sessions.has(session)) return this.refuse(req, CKR.SESSION_HANDLE_INVALID);
    const obj = await this.object(handle);
    if (!obj) return this.refuse(req, CKR.OBJECT_HANDLE_INVALID);
    let sensitive = false;
    let invalid = false;
    let small = false;
    const out: AttributeAnswer[] = want.map((w) => {
      const v = obj.attrs.get(w.type);
      if (v === undefined) {
        invalid = true;
        return { type: w.type, unavailable: true };
      }
      if (obj.sensitive.has(w.type)) {
        sensitive = true;
        return { type: w.type, unavailable: true };
      }
      if (w.length === 0) return { type: w.type, value: v, lengthOnly: true };
      if (w.length < valueLength(w.type, v)) {
        small = true;
        return { type: w.type, unavailable: true };
      }
      return { type: w.type, value: v };
    });
    const rv = sensitive ? CKR.ATTRIBUTE_SENSITIVE : invalid ? CKR.ATTRIBUTE_TYPE_INVALID : small ? CKR.BUFFER_TOO_SMALL : CKR.OK;
    return this.ok(req, [{ t: 'aA', v: out }, u(rv)]);
  }

  // ---------------------------------------------------------------- signing

  private async signInit(req: RpcRequest, session: number, mech: { type: number; param: Uint8Array | null }, handle: number): Promise<Out> {
    const s = this.sessions.get(session);
    if (!s) return this.refuse(req, CKR.SESSION_HANDLE_INVALID);
    if (s.sign) return this.refuse(req, CKR.OPERATION_ACTIVE);
    if (!this.loggedIn) return this.refuse(req, CKR.USER_NOT_LOGGED_IN, 'signing needs C_Login first');
    if (!this.mechanisms().includes(mech.type) || mech.type === CKM.EC_KEY_PAIR_GEN || mech.type === CKM.EC_EDWARDS_KEY_PAIR_GEN)
      return this.refuse(req, CKR.MECHANISM_INVALID, `mechanism 0x${mech.type.toString(16)} does not sign here`);
    const { keyId, isPrivate } = handleKey(handle);
    const obj = isPrivate ? await this.object(handle) : undefined;
    const key = obj ? this.keys.find((k) => k.keyId === keyId) : undefined;
    if (!obj || !key) return this.refuse(req, CKR.KEY_HANDLE_INVALID, `no private key object with handle ${handle}`);
    const ed = key.alg === Alg.ED25519;
    if (ed !== (mech.type === CKM.EDDSA)) return this.refuse(req, CKR.KEY_TYPE_INCONSISTENT, `key ${keyId} is ${ed ? 'Ed25519' : 'ECDSA'}`);
    if (obj.attrs.get(CKA.SIGN) !== true)
      return this.refuse(req, CKR.KEY_FUNCTION_NOT_PERMITTED, `key ${keyId}'s policy does not allow signing (CKA_SIGN false)`);
    let prehashed = false;
    let context: Uint8Array | undefined;
    if (mech.type === CKM.EDDSA) {
      const p = parseEddsaParams(mech.param);
      if (!p.ok) return this.refuse(req, CKR.MECHANISM_PARAM_INVALID, p.why);
      prehashed = p.prehashed;
      context = p.context;
    } else if (mech.param !== null && mech.param.length > 0) return this.refuse(req, CKR.MECHANISM_PARAM_INVALID, 'ECDSA takes no parameter');
    s.sign = { mech: mech.type, key, size: 0, prehashed, context, multi: false, hash: mech.type === CKM.ECDSA_SHA256 ? createHash('sha256') : undefined };
    return this.ok(req);
  }

  /** The length-only and too-small forms keep the operation (PKCS#11 v2.40 §5.2); anything else ends it. */
  private sizeAnswer(req: RpcRequest, room: number): Out | undefined {
    if (room === 0 || room < SIG_LEN) return this.ok(req, [{ t: 'ay', v: null, length: SIG_LEN }]);
    return undefined;
  }

  private async sign(req: RpcRequest, session: number, data: Uint8Array | null, room: number): Promise<Out> {
    const s = this.sessions.get(session);
    if (!s) return this.refuse(req, CKR.SESSION_HANDLE_INVALID);
    if (!s.sign) return this.refuse(req, CKR.OPERATION_NOT_INITIALIZED);
    const op = s.sign;
    if (op.multi) return this.refuse(req, CKR.OPERATION_ACTIVE, 'C_SignUpdate was called: finish with C_SignFinal');
    if (data === null) {
      s.sign = undefined;
      return this.refuse(req, CKR.ARGUMENTS_BAD, 'no data');
    }
    if (op.mech === CKM.ECDSA && (data.length === 0 || data.length > MAX_ECDSA_INPUT)) {
      s.sign = undefined;
      return this.refuse(req, CKR.DATA_LEN_RANGE, `CKM_ECDSA signs a digest of 1 to ${MAX_ECDSA_INPUT} bytes, got ${data.length}`);
    }
    const sized = this.sizeAnswer(req, room);
    if (sized) return sized;
    s.sign = undefined;
    return this.finishSign(req, op, data);
  }

  private signUpdate(req: RpcRequest, session: number, data: Uint8Array | null): Out {
    const s = this.sessions.get(session);
    if (!s) return this.refuse(req, CKR.SESSION_HANDLE_INVALID);
    if (!s.sign) return this.refuse(req, CKR.OPERATION_NOT_INITIALIZED);
    const op = s.sign;
    if (data === null) {
      s.sign = undefined;
      return this.refuse(req, CKR.ARGUMENTS_BAD, 'no data');
    }
    if (op.mech === CKM.ECDSA) {
      s.sign = undefined;
      return this.refuse(req, CKR.FUNCTION_NOT_SUPPORTED, 'CKM_ECDSA signs a digest in one C_Sign');
    }
    op.multi = true;
    op.size += data.length;
    if (op.hash) op.hash.update(data);
    else {
      if (op.size > MAX_EDDSA_PARTS) {
        s.sign = undefined;
        return this.refuse(req, CKR.DATA_LEN_RANGE, `an EdDSA message through C_SignUpdate is at most ${MAX_EDDSA_PARTS} bytes here`);
      }
      (op.parts ||= []).push(new Uint8Array(data));
    }
    return this.ok(req);
  }

  private async signFinal(req: RpcRequest, session: number, room: number): Promise<Out> {
    const s = this.sessions.get(session);
    if (!s) return this.refuse(req, CKR.SESSION_HANDLE_INVALID);
    if (!s.sign) return this.refuse(req, CKR.OPERATION_NOT_INITIALIZED);
    const op = s.sign;
    if (op.mech === CKM.ECDSA) {
      s.sign = undefined;
      return this.refuse(req, CKR.FUNCTION_NOT_SUPPORTED, 'CKM_ECDSA signs a digest in one C_Sign');
    }
    const sized = this.sizeAnswer(req, room);
    if (sized) return sized;
    s.sign = undefined;
    return this.finishSign(req, op, op.parts ? Buffer.concat(op.parts) : new Uint8Array(0));
  }

  private async finishSign(req: RpcRequest, op: SignOp, data: Uint8Array): Promise<Out> {
    const c = this.client!;
    let sig: Uint8Array;
    try {
      if (op.mech === CKM.ECDSA) sig = await c.sign(op.key.keyId, { digest: ecdsaDigest(data) });
      else if (op.mech === CKM.ECDSA_SHA256) {
        const h = op.hash!;
        if (!op.multi) h.update(data);
        sig = await c.sign(op.key.keyId, { digest: new Uint8Array(h.digest()) });
      } else sig = await c.sign(op.key.keyId, { message: new Uint8Array(data), prehashed: op.prehashed || undefined, context: op.context });
    } catch (e) {
      return this.refuse(req, ckrOf(e, 'key'), `SIGN with key ${op.key.keyId} failed: ${(e as Error).message}`);
    }
    return this.ok(req, [{ t: 'ay', v: sig, length: sig.length }]);
  }

  // ---------------------------------------------------------------- key pairs

  private async generateKeyPair(
    req: RpcRequest,
    session: number,
    mech: { type: number; param: Uint8Array | null },
    pub: RpcAttribute[],
    priv: RpcAttribute[],
  ): Promise<Out> {
    const s = this.sessions.get(session);
    if (!s) return this.refuse(req, CKR.SESSION_HANDLE_INVALID);
    if (!s.rw) return this.refuse(req, CKR.SESSION_READ_ONLY);
    if (!this.loggedIn) return this.refuse(req, CKR.USER_NOT_LOGGED_IN);
    if (mech.param !== null && mech.param.length > 0) return this.refuse(req, CKR.MECHANISM_PARAM_INVALID, 'key-pair generation takes no parameter');
    const plan = planKeygen(mech.type, pub, priv, this.offered());
    if (!plan.ok) return this.refuse(req, plan.rv, plan.why);
    let keyId: number;
    let publicKey: Uint8Array;
    try {
      ({ keyId, publicKey } = await this.client!.generateKey(plan.alg, plan.label, { capabilities: plan.capabilities, sensitive: plan.sensitive }));
    } catch (e) {
      return this.refuse(req, ckrOf(e), `KEY_GENERATE failed: ${(e as Error).message}`);
    }
    const o = plan.originals;
    // a digest-form key (docs/pkcs11.md §4.1): this application and the cache keep the originals (up to MAX_ORIGINAL bytes each)
    const keep: KeyOriginals = {};
    if (o && o.label.length <= MAX_ORIGINAL) keep.p11Label = o.label;
    if (o && o.id !== undefined && o.id.length <= MAX_ORIGINAL) keep.p11Id = o.id;
    if (o) this.made.push({ keyId, publicKey, ...keep });
    await this.refreshKeys(true);
    this.opts.log(`generated key ${keyId} (${plan.capabilities.join(', ')})`);
    if (o) {
      const sizes = `CKA_LABEL (${o.label.length} bytes)${o.id === undefined ? '' : ` and CKA_ID (${o.id.length} bytes)`}`;
      const long = [!keep.p11Label && 'CKA_LABEL', o.id !== undefined && !keep.p11Id && 'CKA_ID'].filter(Boolean);
      const where = this.opts.cache
        ? `the originals are kept in the public-object cache ${this.opts.cache.path}`
        : 'this server has no public-object cache, so only this application keeps the originals';
      const over = long.length > 0 ? ` (except ${long.join(' and ')}, over ${MAX_ORIGINAL} bytes: not kept)` : '';
      this.opts.log(
        `key ${keyId}: ${sizes} do not fit the device label's ${MAX_LABEL} bytes, so the label holds their digests (docs/pkcs11.md §4.1); ${where}${over}. Without them (another host, the cache deleted) the original values cannot be read back (stand-ins are), but searches by the originals still work`,
      );
    }
    return this.ok(req, [u(keyId * 2), u(keyId * 2 + 1)]);
  }

  private async destroy(req: RpcRequest, session: number, handle: number): Promise<Out> {
    const s = this.sessions.get(session);
    if (!s) return this.refuse(req, CKR.SESSION_HANDLE_INVALID);
    if (!this.loggedIn) return this.refuse(req, CKR.USER_NOT_LOGGED_IN);
    if (!s.rw) return this.refuse(req, CKR.SESSION_READ_ONLY);
    const obj = await this.object(handle);
    if (!obj) return this.refuse(req, CKR.OBJECT_HANDLE_INVALID);
    const { keyId } = handleKey(handle);
    try {
      await this.client!.deleteKey(keyId);
    } catch (e) {
      return this.refuse(req, ckrOf(e), `KEY_DELETE ${keyId} failed: ${(e as Error).message}`);
    }
    await this.refreshKeys(true);
    this.opts.log(`deleted key ${keyId} (both its objects)`);
    return this.ok(req);
  }
}
