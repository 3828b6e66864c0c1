// The device's access state (docs/security.md §1–§5): initialized or not, PIN records, tries-left counters, the in-a-row lockout, the label, and the master key while some session is logged in.
//
// What lives where:
// - flash (access_records.ts): one PIN record per role, the tries left per role, the label. Loaded at boot.
// - RAM only: the count of wrong PINs in a row (a power cycle, and only a power cycle, clears it: docs/security.md
//   §4 step 1), and the master and link keys, opened at a successful LOGIN and wiped, with the keystore's cached
//   private keys, as soon as no live session is logged in (§5).
// A PIN change (CHANGE_PIN, UNBLOCK) gives both roles a NEW master key and seals every key record again under it,
// in one transaction (§4): an old flash image and an old PIN then open only the keys of the old image's day.
// The order of a PIN try (LOGIN, and CHANGE_PIN for its old PIN) is the heart of this file (§4): lockout, blocked,
// commit tries − 1, only then derive and compare, then reset. A power cut at any word of it therefore leaves the
// counter unchanged with the PIN never compared, or spent: it never comes back up.
// A role whose record or counter does not decode is treated as blocked (fail closed): the SO can repair the
// user's with UNBLOCK; a damaged SO role is an SO PIN that ran out (§4).
import type { Env } from '../../hal/index.ts';
import { Role, Status } from '../../protocol/codes.ts';
import { type Err, type ErrorDetail, type Result, err, ok } from '../../protocol/result.ts';
import { PinDamage, Reason } from '../../protocol/reasons.ts';
import { equalBytes, wipe } from '../../protocol/bytes.ts';
import { MAX_PIN, MIN_PIN } from '../../protocol/commands/limits.ts';
import type { Entry, Store } from '../store/index.ts';
import type { SessionTable } from '../session/index.ts';
import type { KeyCrypto } from '../keystore.ts';
import {
  PIN_SALT_LENGTH,
  createRole,
  derivePinSecrets,
  generateMasterKey,
  publicKeyVouched,
  sealMaster,
  unlockWithPin,
  type PinRecord,
  type Unlocked,
} from './pin.ts';
import { PIN_MIN_BITS, pinStrengthBits } from './pin_strength.ts';
import {
  MAX_TRIES,
  MAX_WRONG_IN_A_ROW,
  SETTINGS_RECORD,
  decodeAuditorRecord,
  decodePinRecord,
  decodeSettings,
  encodeAuditorRecord,
  type AuditorRecord,
  decodeTries,
  encodePinRecord,
  encodeSettings,
  encodeTries,
  pinRecordKey,
  pinRoleName,
  triesRecordKey,
} from './access_records.ts';

/** What the access state needs from the keystore (keystore.ts): wipe cached private keys; seal every key again under a new master key; whether its flash failed. */
export interface KeyLock {
  lock(): void;
  resealAll(kc: KeyCrypto, next: Uint8Array): Result<{ entries: Entry[]; apply(): void }>;
  readonly storageFault: boolean;
}

export interface AuthOptions {
  env: Env;
  store: Store;
  deviceId: Uint8Array;
  keys: KeyLock;
  /** PBKDF2-SHA256 iterations for PIN records made on this device (INIT, CHANGE_PIN, UNBLOCK); chosen per target. */
  pinIterations: number;
  /** Called before a PIN try is spent in flash, so the audit log records that commit as a try (docs/audit.md §3). */
  onTry?: () => void;
}

/**
 * A new PIN the record code refused, as the request field it came in (field key, length, 6..64): the schema checks
 * the same bounds first, so this is a second line (createRole's iteration count is checked at startDevice).
 */
function badPin(field: number, pin: Uint8Array): Err {
  return err(Status.INVALID_PARAMETER, Reason.LENGTH_OUT_OF_RANGE, [field, pin.length, MIN_PIN, MAX_PIN]);
}

/** A new PIN below the floor of pin_strength.ts, as the request field it came in; undefined when it clears it. */
function weakPin(field: number, pin: Uint8Array): Err | undefined {
  const bits = pinStrengthBits(pin);
  return bits < PIN_MIN_BITS ? err(Status.INVALID_PARAMETER, Reason.PIN_TOO_WEAK, [field, bits, PIN_MIN_BITS]) : undefined;
}

/** A role record of `parts` with `envelope` (the master key sealed to it). */
function withEnvelope(parts: Omit<PinRecord, 'envelope'>, envelope: Uint8Array): PinRecord {
  return { ...parts, envelope };
}

export class AuthState {
  private readonly env: Env;
  private readonly store: Store;
  private readonly deviceId: Uint8Array;
  private readonly keys: KeyLock;
  private readonly iterations: number;
  private init_ = false;
  /** Indexed by codes.ts Role (1 user, 2 SO); index 0 unused. */
  private readonly records: (PinRecord | undefined)[] = [undefined, undefined, undefined];
  /** The auditor's verifier (docs/audit.md §7); undefined until the SO sets an auditor PIN. */
  private auditor: AuditorRecord | undefined = undefined;
  /** Indexed by codes.ts Role (1 user, 2 SO, 3 auditor); index 0 unused. */
  private readonly tries: number[] = [0, 0, 0, 0];
  /** Why a role's stored state cannot be used (reasons.ts PinDamage; 0 when it can). */
  private readonly damage: number[] = [0, 0, 0, 0];
  private readonly onTry: (() => void) | undefined;
  /** Wrong PINs in a row since power-on, any role (docs/security.md §4 step 1). RAM only, by design. */
  private wrongInARow = 0;
  private master: Uint8Array | undefined = undefined;
  /** The link key (pin.ts), opened with the master key and wiped with it. */
  private link: Uint8Array | undefined = undefined;
  private labelText: string | undefined = undefined;
  private faulted = false;

  private constructor(o: AuthOptions) {
    this.env = o.env;
    this.store = o.store;
    this.deviceId = o.deviceId;
    this.keys = o.keys;
    this.iterations = o.pinIterations;
    this.onTry = o.onTry;
  }

  /** Read the access state from the store at boot. Never throws on any record content. */
  static load(o: AuthOptions): AuthState {
    const a = new AuthState(o);
    const store = o.store;
    let any = false;
    for (let role = Role.USER as number; role <= Role.SO; role++) {
      const pv = store.get(pinRecordKey(role));
      const tv = store.get(triesRecordKey(role));
      if (pv !== undefined || tv !== undefined) any = true;
      const rec = pv === undefined ? undefined : decodePinRecord(pv, role);
      const left = tv === undefined ? undefined : decodeTries(tv);
      a.records[role] = rec;
      a.tries[role] = left === undefined ? 0 : left;
      if (rec === undefined) a.damage[role] = pv === undefined ? PinDamage.RECORD_MISSING : PinDamage.RECORD_DAMAGED;
      else if (left === undefined) a.damage[role] = tv === undefined ? PinDamage.COUNTER_MISSING : PinDamage.COUNTER_DAMAGED;
    }
    // INIT writes both PIN records and both counters in one transaction: any of them means "initialized"
    a.init_ = any;
    if (!any) {
      a.damage[1] = 0;
      a.damage[2] = 0;
    }
    // the auditor's record is optional (the SO sets it): absent is not damage, a record that does not decode is
    const av = store.get(pinRecordKey(Role.AUDITOR));
    const atv = store.get(triesRecordKey(Role.AUDITOR));
    if (av !== undefined) {
      a.auditor = decodeAuditorRecord(av);
      const left = atv === undefined ? undefined : decodeTries(atv);
      a.tries[Role.AUDITOR] = left === undefined ? 0 : left;
      if (a.auditor === undefined) a.damage[Role.AUDITOR] = PinDamage.RECORD_DAMAGED;
      else if (left === undefined) a.damage[Role.AUDITOR] = atv === undefined ? PinDamage.COUNTER_MISSING : PinDamage.COUNTER_DAMAGED;
    }
    const sv = store.get(SETTINGS_RECORD);
    const settings = sv === undefined ? undefined : decodeSettings(sv);
    if (settings !== undefined) a.labelText = settings.label;
    return a;
  }

  // ---- what INFO and the dispatcher's gate read ---------------------------------------------------------

  /** False on a factory-new device: only INIT is accepted then (docs/security.md §2). */
  get initialized(): boolean {
    return this.init_;
  }

  get label(): string | undefined {
    return this.labelText;
  }

  /** Whether an auditor PIN is set (docs/audit.md §7). */
  get auditorSet(): boolean {
    return this.auditor !== undefined || this.damage[Role.AUDITOR] !== 0;
  }

  /** Wrong tries left before the role's PIN blocks (0 when blocked or its stored state is damaged). */
  triesLeft(role: number): number {
    return this.damage[role] !== 0 ? 0 : this.tries[role];
  }

  /** True after 3 wrong PINs in a row: no PIN is tried until a power cycle. */
  get lockedUntilPowerCycle(): boolean {
    return this.wrongInARow >= MAX_WRONG_IN_A_ROW;
  }

  get pinIterations(): number {
    return this.iterations;
  }

  /** Why some of the stored access state is unusable this boot (for the boot report: PIN_STATE_DAMAGED per role), or undefined. */
  get problem(): ErrorDetail[] | undefined {
    const p: ErrorDetail[] = [];
    for (let role = Role.USER as number; role <= Role.AUDITOR; role++)
      if (this.damage[role] !== 0) p.push({ reason: Reason.PIN_STATE_DAMAGED, args: [role, this.damage[role]] });
    return p.length > 0 ? p : undefined;
  }

  /** True once a flash write of this state threw: PIN changes are refused until a power cycle. */
  get storageFault(): boolean {
    return this.faulted;
  }

  /**
   * The master key while some live session is logged in, else undefined. The buffer stays this object's: use it
   * for the operation at hand, never keep or wipe it.
   */
  masterKey(): Uint8Array | undefined {
    return this.master;
  }

  // ---- INIT ---------------------------------------------------------------------------------------------

  /**
   * INIT (docs/security.md §3): a random master key, one PIN record per role, both counters at MAX_TRIES and the
   * label, in ONE store transaction, with `extra` entries of the caller's (the officers given at INIT). Does not log
   * in: the master key is wiped before this returns.
   */
  init(userPin: Uint8Array, soPin: Uint8Array, label: string | undefined, extra: Entry[] = []): Result<void> {
    if (this.init_) return err(Status.ALREADY_INITIALIZED, Reason.ALREADY_INITIALIZED);
    const weak = weakPin(1, userPin) || weakPin(2, soPin);
    if (weak) return weak;
    const bad = this.unwritable();
    if (bad) return bad;
    const { crypto, rng } = this.env;
    const master = generateMasterKey(rng);
    const link = generateMasterKey(rng);
    try {
      const u = createRole(crypto, rng, 'user', userPin, link, this.deviceId, this.iterations);
      if (!u.ok) return badPin(1, userPin);
      const s = createRole(crypto, rng, 'so', soPin, link, this.deviceId, this.iterations);
      if (!s.ok) {
        wipe(u.value.secret);
        return badPin(2, soPin);
      }
      const sealed = sealMaster(crypto, rng, master, link, this.deviceId, u.value, s.value.parts);
      wipe(u.value.secret, s.value.secret);
      const user: PinRecord = withEnvelope(u.value.parts, sealed[0]);
      const so: PinRecord = withEnvelope(s.value.parts, sealed[1]);
      const entries: Entry[] = [
        { key: pinRecordKey(Role.USER), value: encodePinRecord(user) },
        { key: pinRecordKey(Role.SO), value: encodePinRecord(so) },
        { key: triesRecordKey(Role.USER), value: encodeTries(MAX_TRIES) },
        { key: triesRecordKey(Role.SO), value: encodeTries(MAX_TRIES) },
      ];
      if (label !== undefined) entries.push({ key: SETTINGS_RECORD, value: encodeSettings({ label }) });
      const c = this.commit(entries.concat(extra));
      if (!c.ok) return c; // the device was not initialized
      this.records[Role.USER] = user;
      this.records[Role.SO] = so;
      this.tries[Role.USER] = MAX_TRIES;
      this.tries[Role.SO] = MAX_TRIES;
      this.damage[Role.USER] = 0;
      this.damage[Role.SO] = 0;
      this.labelText = label;
      this.init_ = true;
      return ok(undefined);
    } finally {
      wipe(master, link);
    }
  }

  // ---- PIN tries ----------------------------------------------------------------------------------------

  /**
   * Spend one PIN try of `role` (docs/security.md §4 steps 1–3): lockout, blocked, commit tries − 1. Only after this
   * returns undefined may the PIN be compared.
   */
  private spend(role: number, stored: boolean): Err | undefined {
    if (this.wrongInARow >= MAX_WRONG_IN_A_ROW) return err(Status.PIN_LOCKED_UNTIL_POWER_CYCLE, Reason.PIN_LOCKOUT, [MAX_WRONG_IN_A_ROW]);
    if (this.damage[role] !== 0 || !stored) return err(Status.PIN_BLOCKED, Reason.PIN_STATE_DAMAGED, [role, this.damage[role]]);
    const left = this.tries[role];
    if (left <= 0) return err(Status.PIN_BLOCKED, Reason.PIN_IS_BLOCKED, [role, MAX_TRIES]);
    const bad = this.unwritable();
    if (bad) return bad;
    // step 3: the try is spent in flash before the PIN is looked at
    const spent = left - 1;
    let c: Result<void>;
    if (this.onTry !== undefined) this.onTry();
    try {
      c = this.store.commit([{ key: triesRecordKey(role), value: encodeTries(spent) }]);
    } catch (e) {
      // whether the write landed is for the boot scan to say; until then count the try as spent
      this.faulted = true;
      this.tries[role] = spent;
      throw e;
    }
    if (!c.ok) return c; // the PIN was not tried: its retry counter could not be written
    this.tries[role] = spent;
    return undefined;
  }

  /** A wrong PIN (step 4): one more in a row; the answer says whether it blocked the role or locked PIN tries until a power cycle. */
  private wrong(role: number): Err {
    const spent = this.tries[role];
    this.wrongInARow++;
    if (spent === 0) return err(Status.PIN_BLOCKED, Reason.PIN_NOW_BLOCKED, [role, MAX_TRIES]);
    // the third argument, present only then, says this try locked PIN tries until a power cycle
    return err(Status.PIN_INCORRECT, Reason.PIN_WRONG, this.wrongInARow >= MAX_WRONG_IN_A_ROW ? [role, spent, 1] : [role, spent]);
  }

  /**
   * One PIN try for `role` (docs/security.md §4 steps 1–4): spend, then derive and compare.
   * On a right PIN the in-a-row count is cleared and the opened master and link keys returned (the caller wipes or
   * keeps them); the counter stays spent: the caller commits it back to MAX_TRIES (step 5), alone or with its own change.
   */
  private tryPin(role: number, pin: Uint8Array): Result<Unlocked> {
    const rec = this.records[role];
    const refused = this.spend(role, rec !== undefined);
    if (refused) return refused;
    // step 4
    const u = unlockWithPin(this.env.crypto, rec as PinRecord, pin, this.deviceId);
    if (u.ok) {
      this.wrongInARow = 0;
      return u;
    }
    if (u.reason === 'corrupt-record') {
      // the verifier matched but the wrapped master key does not open: the record was altered; stop using it
      this.damage[role] = PinDamage.RECORD_ALTERED;
      return err(Status.PIN_BLOCKED, Reason.PIN_STATE_DAMAGED, [role, PinDamage.RECORD_ALTERED]);
    }
    return this.wrong(role);
  }

  /** The auditor's LOGIN (docs/audit.md §7): the same order as tryPin, against a verifier that opens no key. */
  private loginAuditor(pin: Uint8Array): Result<void> {
    const rec = this.auditor;
    if (rec === undefined && this.damage[Role.AUDITOR] === 0) return err(Status.OPERATION_NOT_PERMITTED, Reason.NO_AUDITOR);
    const refused = this.spend(Role.AUDITOR, rec !== undefined);
    if (refused) return refused;
    const r = rec as AuditorRecord;
    const d = derivePinSecrets(this.env.crypto, pin, r.salt, r.iterations);
    const right = equalBytes(d.verifier, r.verifier);
    wipe(d.verifier, d.kek);
    if (!right) return this.wrong(Role.AUDITOR);
    this.wrongInARow = 0;
    this.restoreTries(Role.AUDITOR);
    return ok(undefined);
  }

  /**
   * AUDIT_SET's auditor PIN (docs/audit.md §7): a new salt and verifier, and the auditor's tries at MAX_TRIES, in one
   * transaction. The SO's gate is the dispatcher's; the new PIN meets the same floor as every PIN.
   */
  setAuditorPin(pin: Uint8Array): Result<void> {
    const weak = weakPin(3, pin);
    if (weak) return weak;
    const bad = this.unwritable();
    if (bad) return bad;
    const salt = new Uint8Array(PIN_SALT_LENGTH);
    this.env.rng.fill(salt);
    const d = derivePinSecrets(this.env.crypto, pin, salt, this.iterations);
    wipe(d.kek);
    const rec: AuditorRecord = { iterations: this.iterations, salt, verifier: d.verifier };
    const c = this.commit([
      { key: pinRecordKey(Role.AUDITOR), value: encodeAuditorRecord(rec) },
      { key: triesRecordKey(Role.AUDITOR), value: encodeTries(MAX_TRIES) },
    ]);
    if (!c.ok) return c;
    this.auditor = rec;
    this.tries[Role.AUDITOR] = MAX_TRIES;
    this.damage[Role.AUDITOR] = 0;
    return ok(undefined);
  }

  /** LOGIN's PIN check (docs/security.md §4). On success the master key is held in RAM; the caller gives its session the role. */
  login(role: number, pin: Uint8Array): Result<void> {
    if (role === Role.AUDITOR) return this.loginAuditor(pin);
    const t = this.tryPin(role, pin);
    if (!t.ok) return t;
    let fresh: Unlocked | undefined = t.value;
    try {
      // step 5: the counter back to the maximum. If this write is refused (never expected: an overwrite of the same
      // size fits in the store's reserve), the try stays spent and the next right PIN resets it; the login stands.
      this.restoreTries(role);
      if (this.master === undefined) {
        this.master = fresh.master;
        this.link = fresh.link;
        fresh = undefined;
      } else if (!equalBytes(this.master, fresh.master)) {
        // both roles' envelopes must hold the same key; a mismatch means they were altered in flash
        return err(Status.INTERNAL_ERROR, Reason.MASTER_KEY_MISMATCH, [role]);
      }
      return ok(undefined);
    } finally {
      if (fresh !== undefined) wipe(fresh.master, fresh.link);
    }
  }

  /**
   * CHANGE_PIN (docs/security.md §4): the old PIN is tried exactly as a LOGIN (it spends a try first); then a new
   * master key for both roles, the role's new record and every key sealed again, in ONE transaction (rotate).
   */
  changePin(role: number, oldPin: Uint8Array, newPin: Uint8Array): Result<void> {
    // before the old PIN is tried: a refused new PIN spends no try
    const weak = weakPin(3, newPin);
    if (weak) return weak;
    const t = this.tryPin(role, oldPin);
    if (!t.ok) return t;
    try {
      // the key records are sealed under the master key in use: one that differs would leave them sealed under a key
      // no envelope holds any more (as LOGIN, the records were altered in flash)
      const r =
        this.master !== undefined && !equalBytes(this.master, t.value.master)
          ? err(Status.INTERNAL_ERROR, Reason.MASTER_KEY_MISMATCH, [role])
          : this.rotate(role, 3, newPin, t.value);
      // the old PIN was right: if the change did not land, its try is given back (as LOGIN's step 5)
      if (!r.ok) this.restoreTries(role);
      return r;
    } finally {
      wipe(t.value.master, t.value.link);
    }
  }

  /**
   * UNBLOCK (docs/security.md §4): the SO, logged in (so the master and link keys are in RAM), sets a new user PIN,
   * with a new master key for both roles, in ONE transaction (rotate). It also repairs a damaged user record.
   */
  unblock(newUserPin: Uint8Array): Result<void> {
    const master = this.master;
    const link = this.link;
    if (master === undefined || link === undefined) return err(Status.LOGIN_REQUIRED, Reason.LOGIN_NEEDED, [Role.SO]);
    const weak = weakPin(1, newUserPin);
    if (weak) return weak;
    const bad = this.unwritable();
    if (bad) return bad;
    return this.rotate(Role.USER, 1, newUserPin, { master, link });
  }

  /**
   * A new PIN for `role` and a new master key for both roles (docs/security.md §4, docs/session.md §8.3), in ONE
   * store transaction, so that a power cut at any word leaves the old state or the new one:
   * - the role's new record: new salt, verifier and X25519 key pair, the new master key sealed to it;
   * - the other role's record with the new master key sealed to its public key, if the link key vouches for that
   *   key; otherwise that record is deleted (whatever is there was not written by this device: the role is then
   *   blocked, and for the user the SO's UNBLOCK repairs it);
   * - the role's tries at MAX_TRIES; every key record sealed again under the new master key (a key record that does
   *   not open refuses the change: keystore.ts resealAll).
   * `current` (the master and link keys as they are) stays the caller's. `field` names the new PIN in a refusal.
   */
  private rotate(role: number, field: number, pin: Uint8Array, current: Unlocked): Result<void> {
    const { crypto, rng } = this.env;
    const other = role === Role.USER ? Role.SO : Role.USER;
    const fresh = createRole(crypto, rng, pinRoleName(role), pin, current.link, this.deviceId, this.iterations);
    if (!fresh.ok) return badPin(field, pin);
    const peer = this.records[other];
    const vouched = peer !== undefined && this.damage[other] !== PinDamage.RECORD_ALTERED && publicKeyVouched(crypto, current.link, this.deviceId, peer);
    let next: Uint8Array | undefined = generateMasterKey(rng);
    try {
      const sealed = sealMaster(crypto, rng, next, current.link, this.deviceId, fresh.value, vouched ? peer : undefined);
      const mine = withEnvelope(fresh.value.parts, sealed[0]);
      const theirs = vouched ? withEnvelope(peer as PinRecord, sealed[1]) : undefined;
      const keys = this.keys.resealAll({ crypto, rng, deviceId: this.deviceId, masterKey: current.master }, next);
      if (!keys.ok) return keys; // a damaged key record: nothing changed
      const entries: Entry[] = [
        { key: pinRecordKey(role), value: encodePinRecord(mine) },
        { key: triesRecordKey(role), value: encodeTries(MAX_TRIES) },
        { key: pinRecordKey(other), value: theirs !== undefined ? encodePinRecord(theirs) : null },
      ];
      const c = this.commit(entries.concat(keys.value.entries));
      if (!c.ok) return c; // nothing changed: the old PIN and the old master key still work
      keys.value.apply();
      this.records[role] = mine;
      this.tries[role] = MAX_TRIES;
      this.damage[role] = 0;
      this.records[other] = theirs;
      if (theirs === undefined) this.damage[other] = PinDamage.RECORD_MISSING;
      if (this.master !== undefined) {
        // sessions logged in go on with the new master key (the link key does not change)
        wipe(this.master);
        this.master = next;
        next = undefined;
      }
      return ok(undefined);
    } finally {
      wipe(next, fresh.value.secret);
    }
  }

  /** LOGIN's step 5: the role's tries back to MAX_TRIES, if spent; a refused write leaves them spent. */
  private restoreTries(role: number): void {
    if (this.tries[role] === MAX_TRIES) return;
    const c = this.commit([{ key: triesRecordKey(role), value: encodeTries(MAX_TRIES) }]);
    if (c.ok) this.tries[role] = MAX_TRIES;
  }

  // ---- the master key's lifetime ------------------------------------------------------------------------

  /**
   * Wipe the master key (and the keystore's cached private keys) if no live session is logged in any more.
   * Called after LOGOUT and SESSION_CLOSE drop a role, and by sweep().
   */
  release(sessions: SessionTable, now: number): void {
    if (this.master !== undefined && sessions.loggedIn(now) === 0) this.lock();
  }

  /**
   * At every request received in the clear (dispatch.ts), before anything runs: end the sessions that idled out or
   * reached their cap (their roles end with them), then release().
   */
  sweep(sessions: SessionTable, now: number): void {
    sessions.sweep(now);
    this.release(sessions, now);
  }

  /**
   * RESET's store entries (docs/quorum.md §4): both role records first (they hold the master key, sealed to each
   * PIN; the store overwrites a deleted secret record with zeros), then both tries counters and the settings.
   */
  eraseEntries(): Entry[] {
    return [
      { key: pinRecordKey(Role.USER), value: null },
      { key: pinRecordKey(Role.SO), value: null },
      { key: triesRecordKey(Role.USER), value: null },
      { key: triesRecordKey(Role.SO), value: null },
      { key: pinRecordKey(Role.AUDITOR), value: null },
      { key: triesRecordKey(Role.AUDITOR), value: null },
      { key: SETTINGS_RECORD, value: null },
    ];
  }

  /** After eraseEntries() was committed: factory-new in RAM too, the master key wiped. The in-a-row count stays (power cycle only). */
  forget(): void {
    this.lock();
    this.init_ = false;
    for (let role = Role.USER as number; role <= Role.AUDITOR; role++) {
      this.records[role] = undefined;
      this.tries[role] = 0;
      this.damage[role] = 0;
    }
    this.auditor = undefined;
    this.labelText = undefined;
  }

  /** Wipe the master and link keys and the decrypted private keys cached with them. */
  lock(): void {
    const m = this.master;
    const l = this.link;
    this.master = undefined;
    this.link = undefined;
    wipe(m, l);
    this.keys.lock();
  }

  // ---- flash --------------------------------------------------------------------------------------------

  private unwritable(): Err | undefined {
    if (this.faulted || this.keys.storageFault) return err(Status.INTERNAL_ERROR, Reason.FLASH_FAULTED);
    return undefined;
  }

  private commit(entries: Entry[]): Result<void> {
    try {
      return this.store.commit(entries);
    } catch (e) {
      // the flash threw mid-write: the store object is stale until a reboot (store.ts commit)
      this.faulted = true;
      throw e;
    }
  }
}
