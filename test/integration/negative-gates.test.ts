// Every command from the negative side (docs/security.md §2 and §6): in the clear, on a factory-new device, without login, with the wrong role, replayed, tampered, and on keys whose policy forbids the use; each refusal has its exact status and changes nothing.
//
// The commands come from codes.ts `Command`, not from a list here: a new command is refused in every context its
// gate says, and the first test fails until its gate is written down in docs/security.md §2 and DOC_GATES below.
// "Changes nothing" is checked on the raw flash image (every byte, and the word-write and erase counters), on INFO
// (every field), on KEY_LIST, and on the work done: no PIN derived, no private-key operation, no random drawn, and
// for a refusal in the clear not even an AEAD run.
import { Audit, COMMANDS, Gate } from '../../firmware/protocol/commands/index.ts';
import { describe, it, expect } from 'vitest';
import { createHash, generateKeyPairSync } from 'node:crypto';
import type { Crypto } from '../../firmware/hal/index.ts';
import { Alg, Capability, Command, Role, Status } from '../../firmware/protocol/codes.ts';
import { cborEncode } from '../../firmware/protocol/cbor.ts';
import { SessionHandshake, type HostSession } from '../../host/session.ts';
import { field, hex, nobleCrypto, replyOfBody, requestBodyOf, startTestDevice, type Reply, type TestDevice } from '../helpers/loopback.ts';
import { NorFlash } from '../helpers/nor-flash.ts';
import { auditEntries, storeState } from '../helpers/audit.ts';
import { decodeEntry, type AuditEntry } from '../../host/audit.ts';

const pin = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const USER_PIN = 'neg-user-pin-1';
const SO_PIN = 'neg-so-pin-22';
const NEW_PIN = 'neg-new-pin-333';
const AUDITOR_PIN = 'neg-audit-pin-44';
const PAGE = 2048;
const SEED = 'negative gates';

/** docs/security.md §2, written down independently of dispatch.ts GATES (the first test compares the two). */
const DOC_GATES: { readonly [name: string]: number } = {
  INFO: Gate.CLEAR,
  ECHO: Gate.CLEAR,
  SESSION_OPEN: Gate.OUTER,
  SESSION_MESSAGE: Gate.OUTER,
  RANDOM: Gate.SESSION_IF_CAPABLE,
  SESSION_CLOSE: Gate.SESSION,
  LOGOUT: Gate.SESSION,
  INIT: Gate.UNINITIALIZED,
  LOGIN: Gate.INITIALIZED,
  KEY_LIST: Gate.LOGGED_IN,
  KEY_PUBLIC: Gate.LOGGED_IN,
  KEY_ATTEST: Gate.LOGGED_IN,
  CHANGE_PIN: Gate.LOGGED_IN,
  KEY_GENERATE: Gate.USER,
  KEY_DELETE: Gate.USER,
  SIGN: Gate.USER,
  ECDH: Gate.USER,
  KEY_SET_POLICY: Gate.USER,
  KEY_IMPORT: Gate.SO,
  UNBLOCK: Gate.SO,
  APPROVAL_CHALLENGE: Gate.INITIALIZED,
  OFFICERS_SET: Gate.SO,
  RESET: Gate.INITIALIZED,
  DOMAIN_CREATE: Gate.SO,
  DOMAIN_JOIN: Gate.SO,
  BACKUP_EXPORT: Gate.SO,
  BACKUP_IMPORT: Gate.SO,
  SHARE_RESEAL: Gate.USER,
  AUDIT_READ: Gate.ANY_ROLE,
  AUDIT_CHECKPOINT: Gate.ANY_ROLE,
  AUDIT_ACK: Gate.AUDITOR,
  AUDIT_SET: Gate.SO,
  SIGN_BEGIN: Gate.USER,
  SIGN_UPDATE: Gate.USER,
};

const ALL_COMMANDS: [string, number][] = Object.entries(Command).map(([name, code]) => [name, code as number]);
const gateOf = (name: string, code: number): number => (DOC_GATES[name] !== undefined ? DOC_GATES[name] : COMMANDS[code].gate);

/** The fixture's keys: A ed25519 (sign), B P-256 (sign + derive), C x25519 (derive). */
interface Keys {
  a: number;
  b: number;
  c: number;
}

const x25519Peer = (): Uint8Array => new Uint8Array(generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12));

/**
 * Parameters with which each command would succeed in the right context, so that a refusal can only come from the
 * context. A command added later gets an empty map: the gate answers before parameters are decoded (dispatch.ts).
 */
function paramsOf(name: string, k: Keys): object {
  switch (name) {
    case 'ECHO':
      return { 1: new Uint8Array([1, 2, 3]) };
    case 'RANDOM':
      return { 1: 16 };
    case 'KEY_GENERATE':
      return { 1: Alg.ED25519, 2: 'made by a refused request' };
    case 'KEY_IMPORT':
      return { 1: Alg.X25519, 2: 'imported', 3: new Uint8Array(32).fill(0x5a) };
    case 'KEY_PUBLIC':
      return { 1: k.a };
    case 'KEY_DELETE':
      return { 1: k.a };
    case 'SIGN':
      return { 1: k.a, 2: new Uint8Array(Buffer.from('sign me')) };
    case 'ECDH':
      return { 1: k.c, 2: x25519Peer() };
    case 'SESSION_OPEN':
      return { 1: SessionHandshake.create().hostEphemeral };
    case 'SESSION_MESSAGE':
      return { 1: 1, 2: 1, 3: new Uint8Array(40) };
    case 'INIT':
      return { 1: pin(USER_PIN), 2: pin(SO_PIN), 3: 'neg' };
    case 'LOGIN':
      return { 1: Role.USER, 2: pin(USER_PIN) };
    case 'CHANGE_PIN':
      return { 1: Role.USER, 2: pin(USER_PIN), 3: pin(NEW_PIN) };
    case 'UNBLOCK':
      return { 1: pin(NEW_PIN) };
    case 'KEY_SET_POLICY':
      return { 1: k.b, 2: Capability.SIGN };
    case 'KEY_ATTEST':
      return { 1: k.a, 2: new Uint8Array(16).fill(7) };
    case 'OFFICERS_SET':
      return {
        1: 1,
        2: [
          new Map<number, unknown>([
            // RFC 8032 §7.1 TEST 1's public key: a point, as an officer key must be
            [1, new Uint8Array(Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex'))],
            [2, 'officer'],
          ]),
        ],
      };
    case 'DOMAIN_JOIN':
      return { 1: new Uint8Array(16), 2: [new Map<number, unknown>([[1, new Uint8Array(81)]])] };
    case 'BACKUP_EXPORT':
      return { 1: [k.a] };
    case 'BACKUP_IMPORT':
      return { 1: new Uint8Array(64) };
    case 'AUDIT_READ':
      return { 1: 0 };
    case 'AUDIT_CHECKPOINT':
      return { 1: new Uint8Array(16).fill(3) };
    case 'AUDIT_ACK':
      return { 1: 0 };
    case 'AUDIT_SET':
      return { 1: false };
    case 'SIGN_BEGIN':
      return { 1: k.a, 2: 3, 3: new Uint8Array(createHash('sha256').update('abc').digest()) };
    case 'SIGN_UPDATE':
      return { 1: 1, 2: 0, 3: new Uint8Array(Buffer.from('abc')) };
    case 'SHARE_RESEAL':
      return {
        1: k.a,
        2: new Uint8Array(16),
        3: new Uint8Array(81),
        4: new Uint8Array(Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex')),
      };
    default:
      return {};
  }
}

/**
 * Commands whose handler needs what these fixtures do not have (officers; a share sealed to one of their keys): sent
 * right they pass the gate and the handler refuses them with this status. The clone-attack tests run them to OK.
 */
const HANDLER_REFUSES: { readonly [name: string]: string } = {
  DOMAIN_CREATE: 'OPERATION_NOT_PERMITTED',
  DOMAIN_JOIN: 'OPERATION_NOT_PERMITTED',
  BACKUP_EXPORT: 'OPERATION_NOT_PERMITTED',
  BACKUP_IMPORT: 'OPERATION_NOT_PERMITTED',
  SHARE_RESEAL: 'INVALID_PARAMETER',
  // no SIGN_BEGIN came first in that session
  SIGN_UPDATE: 'OPERATION_NOT_PERMITTED',
};

// ---------------------------------------------------------------- work counters

/** What a refused request must not have done: derive a PIN, touch a private key, draw randomness; and its AEAD runs. */
interface Work {
  pbkdf2: number;
  privateOps: number;
  aeadOpen: number;
  aeadSeal: number;
  rng: number;
}

function countingCrypto(): Crypto & { readonly work: Omit<Work, 'rng'> } {
  const c = nobleCrypto();
  const work = { pbkdf2: 0, privateOps: 0, aeadOpen: 0, aeadSeal: 0 };
  const counted: Crypto = {
    ...c,
    pbkdf2Sha256: (p, s, i, l) => (work.pbkdf2++, c.pbkdf2Sha256(p, s, i, l)),
    ed25519Sign: (m, k) => (work.privateOps++, c.ed25519Sign(m, k)),
    ecdsaSign: (cv, d, k) => (work.privateOps++, c.ecdsaSign(cv, d, k)),
    ecdsaPublicKey: (cv, k) => (work.privateOps++, c.ecdsaPublicKey(cv, k)),
    ed25519PublicKey: (k) => (work.privateOps++, c.ed25519PublicKey(k)),
    x25519PublicKey: (k) => (work.privateOps++, c.x25519PublicKey(k)),
    x25519: (k, p) => (work.privateOps++, c.x25519(k, p)),
    ecdhP256: (k, p) => (work.privateOps++, c.ecdhP256(k, p)),
    aeadOpen: (k, n, s, a) => (work.aeadOpen++, c.aeadOpen(k, n, s, a)),
    aeadSeal: (k, n, p, a) => (work.aeadSeal++, c.aeadSeal(k, n, p, a)),
  };
  if (c.ed25519Expand) {
    const expand = c.ed25519Expand.bind(c);
    counted.ed25519Expand = (seed) => (work.privateOps++, expand(seed));
  }
  return Object.assign(counted, { work });
}

// ---------------------------------------------------------------- fixtures

interface Fx {
  t: TestDevice;
  flash: NorFlash;
  crypto: ReturnType<typeof countingCrypto>;
  keys: Keys;
  /** Sessions logged in as user and as SO, and one not logged in (absent on a factory-new device). */
  u?: HostSession;
  so?: HostSession;
  /** A session logged in as auditor (docs/audit.md §7). */
  a?: HostSession;
  none: HostSession;
  /** The session snap() lists keys in (default: the SO session); never the one holding a sealed, unsent envelope. */
  lister?: HostSession;
}

function openSession(t: TestDevice): HostSession {
  const r = t.openSession();
  if (r.status !== Status.OK) throw new Error('SESSION_OPEN: ' + r.statusName + ' ' + r.message);
  return t.session as HostSession;
}

function send(t: TestDevice, e: { sessionId: number; counter: number; ciphertext: Uint8Array }): Reply {
  return t.callClear(Command.SESSION_MESSAGE, { 1: e.sessionId, 2: e.counter, 3: e.ciphertext });
}

/** The inner answer of a request in session `s`, or the outer refusal of its envelope. */
function inSession(t: TestDevice, s: HostSession, code: number, params?: unknown): Reply {
  const outer = send(t, s.seal(requestBodyOf(code, params), 0));
  if (outer.status !== Status.OK) return outer;
  return replyOfBody(outer.frame, s.open(field<number>(outer, 1), field<Uint8Array>(outer, 2)));
}

function must(what: string, r: Reply): Reply {
  if (r.status !== Status.OK) throw new Error(what + ': ' + r.statusName + ' ' + r.message);
  return r;
}

const boot = (flash: NorFlash, crypto = countingCrypto()) => ({ t: startTestDevice({ flash, seed: SEED, crypto, autoAuth: false, pinIterations: 2 }), crypto });

/** An initialized device with keys A, B, C, made once; every fixture boots a copy of its flash. */
let initializedImage: { img: Uint8Array; keys: Keys } | undefined;
function image(): { img: Uint8Array; keys: Keys } {
  if (initializedImage) return initializedImage;
  const flash = new NorFlash({ pageSize: PAGE, pageCount: 8 });
  const { t } = boot(flash);
  const u = openSession(t);
  must('INIT', inSession(t, u, Command.INIT, { 1: pin(USER_PIN), 2: pin(SO_PIN), 3: 'neg' }));
  must('LOGIN', inSession(t, u, Command.LOGIN, { 1: Role.USER, 2: pin(USER_PIN) }));
  const so = openSession(t);
  must('LOGIN SO', inSession(t, so, Command.LOGIN, { 1: Role.SO, 2: pin(SO_PIN) }));
  must('AUDIT_SET', inSession(t, so, Command.AUDIT_SET, { 3: pin(AUDITOR_PIN) }));
  const gen = (p: object) => field<number>(must('KEY_GENERATE', inSession(t, u, Command.KEY_GENERATE, p)), 1);
  const keys = {
    a: gen({ 1: Alg.ED25519, 2: 'A' }),
    b: gen({ 1: Alg.ECDSA_P256, 2: 'B', 3: Capability.SIGN | Capability.DERIVE }),
    c: gen({ 1: Alg.X25519, 2: 'C' }),
  };
  return (initializedImage = { img: flash.snapshot(), keys });
}

/** A booted copy of the initialized device with a user session, an SO session and a session without login. */
function initializedFixture(): Fx {
  const { img, keys } = image();
  const flash = NorFlash.fromBytes(img, { pageSize: PAGE });
  const { t, crypto } = boot(flash);
  const u = openSession(t);
  must('LOGIN user', inSession(t, u, Command.LOGIN, { 1: Role.USER, 2: pin(USER_PIN) }));
  const so = openSession(t);
  must('LOGIN SO', inSession(t, so, Command.LOGIN, { 1: Role.SO, 2: pin(SO_PIN) }));
  const a = openSession(t);
  must('LOGIN auditor', inSession(t, a, Command.LOGIN, { 1: Role.AUDITOR, 2: pin(AUDITOR_PIN) }));
  const none = openSession(t);
  return { t, flash, crypto, keys, u, so, a, none };
}

/** A factory-new device (its identity is in flash already) with one session. */
function factoryNewFixture(): Fx {
  const flash = new NorFlash({ pageSize: PAGE, pageCount: 8 });
  const { t, crypto } = boot(flash);
  return { t, flash, crypto, keys: { a: 1, b: 2, c: 3 }, none: openSession(t) };
}

// ---------------------------------------------------------------- "nothing changed"

interface Snapshot {
  /** Every store record but the audit log's (a refusal in a session is recorded: docs/audit.md §3.1). */
  flash: string;
  /** The audit log's entries, before snap's own KEY_LIST (which is recorded too). */
  audit: AuditEntry[];
  listed: boolean;
  info: string;
  keys: string;
}

/** INFO without its flash usage fields (13 bytes used, 14 bytes free, 15 erase counts): the audit log moves them. */
function infoBody(r: Reply): string {
  const m = new Map(r.map);
  for (const k of [13, 14, 15]) m.delete(k);
  return hex(cborEncode(m));
}

/** The device's observable state. KEY_LIST goes through fx.lister, by default the SO session (a user LOGOUT must not stop it). */
function snap(fx: Fx): Snapshot {
  const lister = fx.lister || fx.so;
  const flash = storeState(fx.flash);
  const audit = auditEntries(fx.flash).map(decodeEntry);
  const info = infoBody(must('INFO', fx.t.callClear(Command.INFO)));
  // after a RESET the device is factory-new: no role, no key list; the flash and INFO still say everything
  const initialized = fx.t.callClear(Command.INFO).map.get(17) === true;
  const listed = lister !== undefined && initialized;
  const keys = listed ? hex(cborEncode(must('KEY_LIST', inSession(fx.t, lister, Command.KEY_LIST)).map)) : '';
  return { flash, audit, listed, info, keys };
}

function work(fx: Fx): Work {
  return { ...fx.crypto.work, rng: (fx.t.link.env.rng as unknown as { calls: number }).calls };
}

/** The work done since `w0`. */
function since(fx: Fx, w0: Work): Work {
  const w = work(fx);
  return {
    pbkdf2: w.pbkdf2 - w0.pbkdf2,
    privateOps: w.privateOps - w0.privateOps,
    aeadOpen: w.aeadOpen - w0.aeadOpen,
    aeadSeal: w.aeadSeal - w0.aeadSeal,
    rng: w.rng - w0.rng,
  };
}

/**
 * Nothing changed but the audit log, which holds exactly one new REQUEST entry per status in `recorded` besides snap's
 * own KEY_LIST: a refusal inside a session is recorded with its status; a refusal in the clear, or of an envelope, is not.
 */
function expectUnchanged(what: string, before: Snapshot, after: Snapshot, recorded: string[] = []): void {
  expect(after.flash === before.flash, what + ': every store record but the audit log is byte for byte the same').toBe(true);
  const fresh = after.audit.filter((e) => before.audit.length === 0 || e.index > before.audit[before.audit.length - 1].index);
  const mine = fresh.filter((e) => !(e.command === 'KEY_LIST' && e.status === 'OK'));
  expect(fresh.length - mine.length, what + ': snap listed keys once').toBe(before.listed ? 1 : 0);
  expect(
    mine.map((e) => [e.event, e.status]),
    what + ': audit entries',
  ).toEqual(recorded.map((status) => ['request', status]));
  expect(after.info, what + ': INFO').toBe(before.info);
  expect(after.keys, what + ': KEY_LIST').toBe(before.keys);
}

/**
 * Send a request that must be refused with `status`, and check that it changed nothing and did no work: no PIN
 * derived, no private key used, no random drawn; in a session exactly one AEAD open (the envelope) and one seal (the
 * answer), in the clear none at all.
 */
function expectRefused(fx: Fx, what: string, status: string, request: () => Reply, inSessionRequest: boolean): Reply {
  const before = snap(fx);
  const w0 = work(fx);
  const r = request();
  const done = since(fx, w0);
  expect(r.statusName, what + ': ' + r.message).toBe(status);
  expect(typeof r.message === 'string' && r.message.length > 10, what + ': a message a person can act on').toBe(true);
  expect(done, what + ': work done by the refused request').toEqual({
    pbkdf2: 0,
    privateOps: 0,
    aeadOpen: inSessionRequest ? 1 : 0,
    aeadSeal: inSessionRequest ? 1 : 0,
    rng: 0,
  });
  const code = (Command as { [k: string]: number })[what.split(' ')[0]];
  const recorded = inSessionRequest && !(code !== undefined && COMMANDS[code].audit === Audit.NOT_RECORDED);
  expectUnchanged(what, before, snap(fx), recorded ? [status] : []);
  return r;
}

/** In-session request whose envelope must be accepted (outer OK) and whose inner answer is returned. */
function sealedInner(fx: Fx, s: HostSession, code: number, params: unknown): Reply {
  const outer = send(fx.t, s.seal(requestBodyOf(code, params), 0));
  expect(outer.statusName, 'the envelope itself is accepted').toBe('OK');
  return replyOfBody(outer.frame, s.open(field<number>(outer, 1), field<Uint8Array>(outer, 2)));
}

// ---------------------------------------------------------------- what each context answers

type Context = 'clear' | 'factory-new' | 'no-login' | 'user' | 'so' | 'auditor';

/**
 * The status docs/security.md §2 gives `name` in `ctx`, or 'runs' when the gate lets it through. The fixtures' device
 * offers Ed25519 and X25519, so it can open sessions: SESSION_IF_CAPABLE is a session gate here (a device that cannot
 * open sessions is test/unit/core-dispatch-sessionless.test.ts).
 */
function expected(name: string, gate: number, ctx: Context): string {
  if (ctx === 'clear') return gate === Gate.CLEAR || gate === Gate.OUTER ? 'runs' : 'SESSION_REQUIRED';
  if (gate === Gate.OUTER) return 'INVALID_COMMAND';
  if (gate === Gate.CLEAR || gate === Gate.SESSION || gate === Gate.SESSION_IF_CAPABLE) return 'runs';
  if (ctx === 'factory-new') return gate === Gate.UNINITIALIZED ? 'runs' : 'NOT_INITIALIZED';
  if (gate === Gate.UNINITIALIZED) return 'ALREADY_INITIALIZED';
  if (gate === Gate.INITIALIZED) return name === 'LOGIN' && ctx !== 'no-login' ? 'ALREADY_LOGGED_IN' : 'runs';
  if (ctx === 'no-login') return 'LOGIN_REQUIRED';
  if (gate === Gate.ANY_ROLE) return 'runs';
  // the auditor reads and acknowledges the log, nothing else (docs/audit.md §7)
  if (ctx === 'auditor') return gate === Gate.AUDITOR ? 'runs' : 'WRONG_ROLE';
  if (gate === Gate.AUDITOR) return 'WRONG_ROLE';
  if (gate === Gate.USER && ctx === 'so') return 'WRONG_ROLE';
  if (gate === Gate.SO && ctx === 'user') return 'WRONG_ROLE';
  return 'runs';
}

describe('the access table (docs/security.md §2)', () => {
  it('every command in codes.ts has the gate docs/security.md §2 gives it (a new command: document its gate there and in DOC_GATES)', () => {
    for (const [name, code] of ALL_COMMANDS) {
      expect(DOC_GATES[name], name + ' is not in docs/security.md §2 / DOC_GATES').toBeDefined();
      expect(COMMANDS[code].gate, name + ': dispatch.ts GATES').toBe(DOC_GATES[name]);
    }
    expect(Object.keys(DOC_GATES).sort()).toEqual(ALL_COMMANDS.map(([n]) => n).sort());
  });
});

describe('every command in every context its gate refuses: the exact status, and nothing changed', () => {
  const contexts: { ctx: Context; title: string; fixture: () => Fx; session: (fx: Fx) => HostSession | undefined }[] = [
    { ctx: 'clear', title: 'in the clear, without a session', fixture: initializedFixture, session: () => undefined },
    { ctx: 'factory-new', title: 'in a session on a factory-new device', fixture: factoryNewFixture, session: (fx) => fx.none },
    { ctx: 'no-login', title: 'in a session without login', fixture: initializedFixture, session: (fx) => fx.none },
    { ctx: 'user', title: 'in a session logged in as user', fixture: initializedFixture, session: (fx) => fx.u },
    { ctx: 'so', title: 'in a session logged in as SO', fixture: initializedFixture, session: (fx) => fx.so },
    { ctx: 'auditor', title: 'in a session logged in as auditor', fixture: initializedFixture, session: (fx) => fx.a },
  ];
  for (const c of contexts) {
    describe(c.title, () => {
      let fx: Fx | undefined;
      const get = () => fx || (fx = c.fixture());
      const refused = ALL_COMMANDS.map(([name, code]) => ({ name, code, status: expected(name, gateOf(name, code), c.ctx) })).filter(
        (x) => x.status !== 'runs',
      );
      it('the context is what it claims (INFO, and what the session may do)', () => {
        const f = get();
        const info = f.t.callClear(Command.INFO);
        expect(field(info, 17)).toBe(c.ctx !== 'factory-new');
        const s = c.session(f);
        if (s) expect(sealedInner(f, s, Command.ECHO, { 1: new Uint8Array([9]) }).status).toBe(Status.OK);
        if (c.ctx === 'user' || c.ctx === 'so') expect(sealedInner(f, s as HostSession, Command.KEY_LIST, {}).status).toBe(Status.OK);
        expect(refused.length).toBeGreaterThan(0);
      });
      for (const { name, code, status } of refused)
        it(`${name} → ${status}`, () => {
          const f = get();
          const s = c.session(f);
          const params = paramsOf(name, f.keys);
          const r = expectRefused(f, name, status, () => (s ? sealedInner(f, s, code, params) : f.t.callClear(code, params)), s !== undefined);
          if (status === 'SESSION_REQUIRED') expect(r.message).toMatch(/secure session/);
          const g = gateOf(name, code);
          if (status === 'WRONG_ROLE')
            expect(r.message).toMatch(g === Gate.AUDITOR ? /auditor role/ : g === Gate.SO ? /SO role/ : g === Gate.USER ? /user role/ : /user or SO role/);
        });
    });
  }

  it('CHANGE_PIN for the other role than the session holds → WRONG_ROLE, no PIN tried (both roles)', () => {
    const fx = initializedFixture();
    const cases: [HostSession, number, string][] = [
      [fx.u as HostSession, Role.SO, SO_PIN],
      [fx.so as HostSession, Role.USER, USER_PIN],
    ];
    for (const [s, role, old] of cases)
      expectRefused(
        fx,
        'CHANGE_PIN of role ' + role,
        'WRONG_ROLE',
        () => sealedInner(fx, s, Command.CHANGE_PIN, { 1: role, 2: pin(old), 3: pin(NEW_PIN) }),
        true,
      );
    const info = fx.t.callClear(Command.INFO);
    expect([field(info, 19), field(info, 20)]).toEqual([8, 8]);
  });
});

// ---------------------------------------------------------------- replay and tampering

/**
 * The session a command runs in when sent right: its gate's role, else the session without login. RESET's gate lets
 * any session in, and its handler asks for the SO on a device without officers (docs/quorum.md §4).
 */
function rightSession(fx: Fx, gate: number, name: string): HostSession {
  if (name === 'RESET') return fx.so as HostSession;
  if (gate === Gate.USER || gate === Gate.LOGGED_IN || gate === Gate.CLEAR || gate === Gate.OUTER || gate === Gate.ANY_ROLE) return fx.u as HostSession;
  if (gate === Gate.AUDITOR) return fx.a as HostSession;
  if (gate === Gate.SO) return fx.so as HostSession;
  return fx.none;
}

describe('replayed and tampered envelopes of every command: refused, not executed, nothing changed', () => {
  for (const [name, code] of ALL_COMMANDS) {
    const gate = gateOf(name, code);
    it(`${name}: tampered (ciphertext, tag, counter, another session, unknown session, truncated) → refused; the genuine one runs once; its replay → refused`, () => {
      const fx = gate === Gate.UNINITIALIZED ? factoryNewFixture() : initializedFixture();
      const s = rightSession(fx, gate, name);
      const other = s === fx.none ? fx.u : fx.none;
      // listing keys in `s` would move its counter past the envelope sealed below
      if (s === fx.so) fx.lister = fx.u;
      const e = s.seal(requestBodyOf(code, paramsOf(name, fx.keys)), 0);
      const ct = e.ciphertext;
      const flip = (i: number) => {
        const c = ct.slice();
        c[i] ^= 0x01;
        return c;
      };
      const tampered: [string, string, { sessionId: number; counter: number; ciphertext: Uint8Array }][] = [
        ['first ciphertext byte', 'SESSION_AUTH_FAILED', { ...e, ciphertext: flip(0) }],
        ['last ciphertext byte before the tag', 'SESSION_AUTH_FAILED', { ...e, ciphertext: flip(Math.max(0, ct.length - 17)) }],
        ['tag', 'SESSION_AUTH_FAILED', { ...e, ciphertext: flip(ct.length - 1) }],
        ['counter + 1', 'SESSION_AUTH_FAILED', { ...e, counter: e.counter + 1 }],
        ['truncated to the tag', 'SESSION_AUTH_FAILED', { ...e, ciphertext: ct.slice(ct.length - 16) }],
        ['an unknown session id', 'SESSION_INVALID', { ...e, sessionId: 250 }],
      ];
      if (other) tampered.push(["another live session's id", 'SESSION_AUTH_FAILED', { ...e, sessionId: other.sessionId }]);
      for (const [what, status, env] of tampered) {
        // the envelope is refused before anything inside it is looked at: the AEAD open that failed is the only work
        const before = snap(fx);
        const w0 = work(fx);
        const r = send(fx.t, env);
        const done = since(fx, w0);
        expect(r.statusName, name + ' ' + what).toBe(status);
        expect(done.pbkdf2 + done.privateOps + done.rng + done.aeadSeal, name + ' ' + what + ': work done').toBe(0);
        expect(done.aeadOpen, name + ' ' + what + ': AEAD opens').toBeLessThanOrEqual(1);
        expectUnchanged(name + ' ' + what, before, snap(fx));
      }
      // none of that consumed the counter: the genuine envelope runs, once
      const first = send(fx.t, e);
      expect(first.statusName, name + ': the genuine envelope').toBe('OK');
      const inner = replyOfBody(first.frame, s.open(field<number>(first, 1), field<Uint8Array>(first, 2)));
      if (DOC_GATES[name] !== undefined)
        expect(inner.statusName, name + ' sent right: ' + inner.message).toBe(gate === Gate.OUTER ? 'INVALID_COMMAND' : (HANDLER_REFUSES[name] ?? 'OK'));
      const after = snap(fx);
      const w0 = work(fx);
      const replay = send(fx.t, e);
      const done = since(fx, w0);
      // SESSION_CLOSE ended the session: its replay finds no session to authenticate against
      expect(replay.statusName, name + ': replay').toBe(name === 'SESSION_CLOSE' ? 'SESSION_INVALID' : 'SESSION_AUTH_FAILED');
      expect(replay.message).toMatch(name === 'SESSION_CLOSE' ? /session/ : /not executed/);
      expect(done.pbkdf2 + done.privateOps + done.rng + done.aeadSeal, name + ': work done by the replay').toBe(0);
      expectUnchanged(name + ' replayed', after, snap(fx));
    });
  }
});

// ---------------------------------------------------------------- key policy

describe('keys whose policy forbids the use (docs/security.md §6)', () => {
  it('SIGN with a key without `sign` and ECDH with a key without `derive` → POLICY_DENIED; no private-key operation, nothing changed', () => {
    const fx = initializedFixture();
    const u = fx.u as HostSession;
    const gen = (p: object) => field<number>(must('KEY_GENERATE', sealedInner(fx, u, Command.KEY_GENERATE, p)), 1);
    const p256Derive = gen({ 1: Alg.ECDSA_P256, 2: 'derive only', 3: Capability.DERIVE });
    const p256Sign = gen({ 1: Alg.ECDSA_P256, 2: 'sign only' });
    const x25519Wrap = gen({ 1: Alg.X25519, 2: 'export only', 3: Capability.EXPORT_WRAPPED });
    const edCleared = gen({ 1: Alg.ED25519, 2: 'sign cleared' });
    must('KEY_SET_POLICY', sealedInner(fx, u, Command.KEY_SET_POLICY, { 1: edCleared, 2: 0 }));
    const ecPeer = (() => {
      const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
      return new Uint8Array(Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x as string, 'base64url'), Buffer.from(jwk.y as string, 'base64url')]));
    })();
    const msg = new Uint8Array(Buffer.from('policy says no'));
    const cases: [string, number, object, RegExp][] = [
      ['SIGN with a P-256 key that has derive only', Command.SIGN, { 1: p256Derive, 2: msg }, /needs the sign capability/],
      ['SIGN with an ed25519 key whose sign was cleared', Command.SIGN, { 1: edCleared, 2: msg }, /needs the sign capability/],
      ['ECDH with a P-256 key that has sign only', Command.ECDH, { 1: p256Sign, 2: ecPeer }, /needs the derive capability/],
      ['ECDH with an x25519 key that has export-under-wrap only', Command.ECDH, { 1: x25519Wrap, 2: x25519Peer() }, /needs the derive capability/],
    ];
    for (const [what, code, params, message] of cases) {
      const r = expectRefused(fx, what, 'POLICY_DENIED', () => sealedInner(fx, u, code, params), true);
      expect(r.message).toMatch(message);
    }
    // the same keys do what their policy allows (the refusals above were the policy's, not a broken key's)
    expect(sealedInner(fx, u, Command.SIGN, { 1: p256Sign, 2: msg }).status).toBe(Status.OK);
    expect(sealedInner(fx, u, Command.ECDH, { 1: p256Derive, 2: ecPeer }).status).toBe(Status.OK);
  });

  it('KEY_SET_POLICY that loosens anything → POLICY_LOOSENING; the policy stays as it was, in RAM and in flash, even when the request also tightens', () => {
    const fx = initializedFixture();
    const u = fx.u as HostSession;
    const id = field<number>(must('KEY_GENERATE', sealedInner(fx, u, Command.KEY_GENERATE, { 1: Alg.ECDSA_P256, 2: 'tight', 3: Capability.SIGN, 5: true })), 1);
    const policyOf = () => {
      const r = must('KEY_PUBLIC', sealedInner(fx, u, Command.KEY_PUBLIC, { 1: id }));
      return [5, 6, 7, 8, 9].map((k) => r.map.get(k));
    };
    const start = policyOf();
    expect(start).toEqual([Capability.SIGN, true, true, true, true]);
    const loosen: [string, object, RegExp][] = [
      ['adds derive', { 1: id, 2: Capability.SIGN | Capability.DERIVE }, /adds derive/],
      ['adds export-under-wrap', { 1: id, 2: Capability.SIGN | Capability.EXPORT_WRAPPED }, /adds export-under-wrap/],
      ['adds encrypt', { 1: id, 2: Capability.SIGN | Capability.ENCRYPT }, /adds encrypt/],
      ['clears sensitive', { 1: id, 3: false }, /clears sensitive/],
      ['clears touch', { 1: id, 4: false }, /clears touch/],
      ['drops sign but clears sensitive', { 1: id, 2: 0, 3: false }, /clears sensitive/],
    ];
    for (const [what, params, message] of loosen) {
      const r = expectRefused(fx, 'KEY_SET_POLICY ' + what, 'POLICY_LOOSENING', () => sealedInner(fx, u, Command.KEY_SET_POLICY, params), true);
      expect(r.message).toMatch(message);
      expect(r.message).toMatch(/nothing was changed/);
      expect(policyOf(), what).toEqual(start);
    }
    // after a reboot on the same flash the policy is still the original one
    const again = startTestDevice({ flash: fx.flash, seed: SEED + ' reboot', autoAuth: false, pinIterations: 2 });
    const s = openSession(again);
    must('LOGIN', inSession(again, s, Command.LOGIN, { 1: Role.USER, 2: pin(USER_PIN) }));
    const listed = (must('KEY_LIST', inSession(again, s, Command.KEY_LIST)).map.get(1) as Map<number, unknown>[]).find((k) => k.get(1) === id) as Map<
      number,
      unknown
    >;
    expect([6, 7, 8, 9, 10].map((k) => listed.get(k))).toEqual(start);
  });

  it('encrypt or decrypt asked for at creation → INVALID_PARAMETER for every algorithm, KEY_GENERATE and KEY_IMPORT; no key is made', () => {
    const fx = initializedFixture();
    const u = fx.u as HostSession;
    const so = fx.so as HostSession;
    for (const alg of [Alg.ED25519, Alg.ECDSA_P256, Alg.ECDSA_SECP256K1, Alg.X25519])
      for (const cap of [Capability.ENCRYPT, Capability.DECRYPT, Capability.ENCRYPT | Capability.DECRYPT | Capability.SIGN]) {
        const what = 'alg ' + alg + ' capabilities 0x' + cap.toString(16);
        const before = snap(fx);
        const g = sealedInner(fx, u, Command.KEY_GENERATE, { 1: alg, 2: 'enc', 3: cap });
        expect(g.statusName, 'KEY_GENERATE ' + what).toBe('INVALID_PARAMETER');
        expect(g.message).toMatch(/encrypt or decrypt/);
        // a P-256 / secp256k1 scalar of 0x11… is valid; an ed25519 seed and an x25519 scalar are any 32 bytes
        const im = sealedInner(fx, so, Command.KEY_IMPORT, { 1: alg, 2: 'enc', 3: new Uint8Array(32).fill(0x11), 4: cap });
        expect(im.statusName, 'KEY_IMPORT ' + what).toBe('INVALID_PARAMETER');
        expect(im.message).toMatch(/encrypt or decrypt/);
        expectUnchanged(what, before, snap(fx), ['INVALID_PARAMETER', 'INVALID_PARAMETER']);
      }
  });
});
