// Dispatcher: command byte → access gate → schema-checked request → pure handler → schema-encoded response (docs/protocol.md §2, docs/security.md §2).
//
// Gate (docs/security.md §2; docs/protocol.md §6, §7), checked before a request's parameters are even decoded:
// in the clear only INFO, ECHO, SESSION_OPEN and SESSION_MESSAGE run (else SESSION_REQUIRED), and RANDOM on a
// device that cannot open sessions at all (Gate.SESSION_IF_CAPABLE). Inside a
// SESSION_MESSAGE every command runs except SESSION_OPEN and SESSION_MESSAGE (no nesting → INVALID_COMMAND),
// subject to the command's gate: INIT only on a factory-new device (ALREADY_INITIALIZED), everything that touches
// keys or PINs only on an initialized one (NOT_INITIALIZED), then the session's role (LOGIN_REQUIRED, WRONG_ROLE).
//
// The only place that turns handler results and exceptions into wire bytes. A handler that throws
// yields INTERNAL_ERROR (HANDLER_FAILED), never the exception text: it could quote key material. A change is
// committed to flash before any RAM state claims it (keystore.ts), so an exception never answers OK.
import { Alg, Command, Role, Status, type CommandName, type StatusCode } from '../protocol/codes.ts';
import { Reason } from '../protocol/reasons.ts';
import { type CborValue, cborDecode, cborEncode } from '../protocol/cbor.ts';
import { type Err, type Result, err } from '../protocol/result.ts';
import { type MessageOf, decodeMessage, encodeMessage } from '../protocol/schema.ts';
import { Audit, COMMANDS, Gate, type CommandSpec, type CommandTable } from '../protocol/commands/index.ts';
import type { AuditRecord } from './audit.ts';
import type { Caller, DeviceContext } from './context.ts';
import { info } from './commands/info.ts';
import { echo } from './commands/echo.ts';
import { random } from './commands/random.ts';
import { keyGenerate } from './commands/key_generate.ts';
import { keyImport } from './commands/key_import.ts';
import { keyList } from './commands/key_list.ts';
import { keyPublic } from './commands/key_public.ts';
import { keyDelete } from './commands/key_delete.ts';
import { sign } from './commands/sign.ts';
import { ecdh } from './commands/ecdh.ts';
import { sessionOpen } from './commands/session_open.ts';
import { sessionMessage } from './commands/session_message.ts';
import { type NeedPresence, type Outcome, waitsForPress } from './presence.ts';
import { sessionClose } from './commands/session_close.ts';
import { init } from './commands/init.ts';
import { login } from './commands/login.ts';
import { logout } from './commands/logout.ts';
import { changePin } from './commands/change_pin.ts';
import { unblock } from './commands/unblock.ts';
import { keySetPolicy } from './commands/key_set_policy.ts';
import { keyAttest } from './commands/key_attest.ts';
import { approvalChallenge } from './commands/approval_challenge.ts';
import { officersSet } from './commands/officers_set.ts';
import { reset } from './commands/reset.ts';
import { domainCreate } from './commands/domain_create.ts';
import { domainJoin } from './commands/domain_join.ts';
import { backupExport } from './commands/backup_export.ts';
import { backupImport } from './commands/backup_import.ts';
import { shareReseal } from './commands/share_reseal.ts';
import { auditRead } from './commands/audit_read.ts';
import { auditCheckpoint } from './commands/audit_checkpoint.ts';
import { auditAck } from './commands/audit_ack.ts';
import { auditSet } from './commands/audit_set.ts';
import { signBegin } from './commands/sign_begin.ts';
import { signUpdate } from './commands/sign_update.ts';

declare const TINYHSM_WITHOUT_DOMAIN: boolean | undefined;
declare const TINYHSM_WITHOUT_STREAM: boolean | undefined;

/** The handler of a command this board's build leaves out (docs/boards.md "What each board leaves out"). */
function notInBuild(): Result<never> {
  return err(Status.INVALID_COMMAND, Reason.NOT_IN_THIS_BUILD);
}

/**
 * A pure command handler: it validates with guard clauses, then acts, or hands back the rest of its work to run
 * after a button press (core/presence.ts); it never writes to the wire.
 */
export type Handler = (ctx: DeviceContext, request: any, caller: Caller) => Outcome<object>;

/** Each command's handler, typed by its declaration: the request and response types its schemas give (schema.ts MessageOf). */
type HandlerTable = {
  readonly [C in keyof CommandTable]: (
    ctx: DeviceContext,
    request: MessageOf<CommandTable[C]['request']>,
    caller: Caller,
  ) => Outcome<MessageOf<CommandTable[C]['response']>>;
};

/** Command code → handler: the device's half of each command declared in protocol/commands/index.ts COMMANDS. */
// Built inside a function, as protocol/commands/index.ts builds COMMANDS: JerryScript 2.4 (Kaluma) keeps a variable of the
// bundle's outermost function that no inner function reads in a register and crashes once there are too many of them
// (docs/boards.md "Kaluma"); each handler imported only for this table would be one.
export const HANDLERS: HandlerTable & { readonly [code: number]: Handler } = (function () {
  return {
    [Command.INFO]: info,
    [Command.ECHO]: echo,
    [Command.RANDOM]: random,
    [Command.KEY_GENERATE]: keyGenerate,
    [Command.KEY_IMPORT]: keyImport,
    [Command.KEY_LIST]: keyList,
    [Command.KEY_PUBLIC]: keyPublic,
    [Command.KEY_DELETE]: keyDelete,
    [Command.SIGN]: sign,
    [Command.ECDH]: ecdh,
    [Command.SESSION_OPEN]: sessionOpen,
    // the envelope handler runs the inner body through this dispatcher, in session mode
    [Command.SESSION_MESSAGE]: (ctx: DeviceContext, req: any) => sessionMessage(ctx, req, dispatchInSession),
    [Command.SESSION_CLOSE]: sessionClose,
    [Command.INIT]: init,
    [Command.LOGIN]: login,
    [Command.LOGOUT]: logout,
    [Command.CHANGE_PIN]: changePin,
    [Command.UNBLOCK]: unblock,
    [Command.KEY_SET_POLICY]: keySetPolicy,
    [Command.KEY_ATTEST]: keyAttest,
    [Command.APPROVAL_CHALLENGE]: approvalChallenge,
    [Command.OFFICERS_SET]: officersSet,
    [Command.RESET]: reset,
    // a board build may leave these out (tools/build.mjs `withoutDomain` defines TINYHSM_WITHOUT_DOMAIN; INFO then says
    // so): the bundler drops the handlers' code, and the command is refused as not in this build
    [Command.DOMAIN_CREATE]: typeof TINYHSM_WITHOUT_DOMAIN !== 'undefined' && TINYHSM_WITHOUT_DOMAIN ? notInBuild : domainCreate,
    [Command.DOMAIN_JOIN]: typeof TINYHSM_WITHOUT_DOMAIN !== 'undefined' && TINYHSM_WITHOUT_DOMAIN ? notInBuild : domainJoin,
    [Command.BACKUP_EXPORT]: typeof TINYHSM_WITHOUT_DOMAIN !== 'undefined' && TINYHSM_WITHOUT_DOMAIN ? notInBuild : backupExport,
    [Command.BACKUP_IMPORT]: typeof TINYHSM_WITHOUT_DOMAIN !== 'undefined' && TINYHSM_WITHOUT_DOMAIN ? notInBuild : backupImport,

    [Command.SHARE_RESEAL]: typeof TINYHSM_WITHOUT_DOMAIN !== 'undefined' && TINYHSM_WITHOUT_DOMAIN ? notInBuild : shareReseal,
    [Command.AUDIT_READ]: auditRead,
    [Command.AUDIT_CHECKPOINT]: auditCheckpoint,
    [Command.AUDIT_ACK]: auditAck,
    [Command.AUDIT_SET]: auditSet,
    // a board without Ed25519 leaves the streamed SIGN's handlers out (tools/build.mjs `withoutStream`): NOT_IN_THIS_BUILD
    [Command.SIGN_BEGIN]: typeof TINYHSM_WITHOUT_STREAM !== 'undefined' && TINYHSM_WITHOUT_STREAM ? notInBuild : signBegin,
    [Command.SIGN_UPDATE]: typeof TINYHSM_WITHOUT_STREAM !== 'undefined' && TINYHSM_WITHOUT_STREAM ? notInBuild : signUpdate,
  };
})();

interface Entry {
  handler: Handler;
  spec: CommandSpec;
}

// Built once at load: a request costs one array index, no table building (the bench measures it: docs/architecture.md). Only the codes that exist
// are set: a sparse array, which Espruino stores element by element (each unset code would cost a JsVar there).
const TABLE: (Entry | undefined)[] = [];
for (const k in Command) {
  const code = Command[k as CommandName];
  const spec = COMMANDS[code];
  const handler = HANDLERS[code];
  if (spec !== undefined && handler !== undefined) TABLE[code] = { handler, spec };
}

/**
 * Body of an error answer: status byte + {1: reason, 2: args[0], 3: args[1], …} (docs/protocol.md "Error details").
 * Used for RESPONSE and ERROR frames alike. No text: the host renders the sentence (docs/protocol.md §2.1).
 */
export function errorBody(status: StatusCode, reason: Reason, args?: number[]): Uint8Array {
  const m = new Map<number, CborValue>();
  m.set(1, reason);
  if (args !== undefined) for (let i = 0; i < args.length; i++) m.set(2 + i, args[i]);
  return withStatus(status, cborEncode(m));
}

function withStatus(status: number, map: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + map.length);
  out[0] = status;
  out.set(map, 1);
  return out;
}

const EMPTY_MAP: CborValue = new Map<number, CborValue>();

/** A response body (status byte + CBOR map), or the request waiting for the button, whose resume gives it. */
export type Answer = Uint8Array | NeedPresence<Uint8Array>;

/**
 * Execute one request body received in the clear (command byte + CBOR map) and return the response body
 * (status byte + CBOR map), or the request waiting for the button (device.ts runs the wait). Never throws.
 */
export function dispatch(ctx: DeviceContext, body: Uint8Array): Answer {
  // docs/security.md §5: sessions idle or at their cap end here, before anything runs; with the last role, the master key
  ctx.auth.sweep(ctx.sessions, ctx.env.clock.now());
  return run(ctx, body, 0);
}

/** Execute an inner request body, opened from an authenticated SESSION_MESSAGE envelope of session `sessionId`. Never throws. */
export function dispatchInSession(ctx: DeviceContext, body: Uint8Array, sessionId: number): Answer {
  return run(ctx, body, sessionId);
}

/**
 * Whether this device can open a session at all: the handshake needs X25519 and the identity's Ed25519 signature
 * (docs/session.md §2), so both must have passed their self-tests. A missing or unreadable identity record does not
 * count: such a device is still one that does sessions, and its gated commands stay refused.
 */
export function canOpenSessions(ctx: DeviceContext): boolean {
  return ctx.offered[Alg.ED25519] === true && ctx.offered[Alg.X25519] === true;
}

/** The gate's refusal for this caller, or undefined when the command may run (docs/protocol.md "Access"). */
function refusal(ctx: DeviceContext, entry: Entry, caller: Caller): Err | undefined {
  const gate = entry.spec.gate;
  // docs/storage.md §12: an old flash image written back serves INFO and ECHO only
  const rolledBack = ctx.rollback.rolledBack;
  if (rolledBack !== undefined && gate !== Gate.CLEAR) return err(Status.ROLLBACK_DETECTED, Reason.STORE_ROLLED_BACK, rolledBack);
  if (caller.sessionId === 0) {
    if (gate === Gate.CLEAR || gate === Gate.OUTER) return undefined;
    if (gate === Gate.SESSION_IF_CAPABLE && !canOpenSessions(ctx)) return undefined;
    return err(Status.SESSION_REQUIRED, Reason.SESSION_NEEDED);
  }
  if (gate === Gate.OUTER) return err(Status.INVALID_COMMAND, Reason.NOT_IN_SESSION);
  if (gate === Gate.CLEAR || gate === Gate.SESSION || gate === Gate.SESSION_IF_CAPABLE) return undefined;
  const initialized = ctx.auth.initialized;
  if (gate === Gate.UNINITIALIZED) return initialized ? err(Status.ALREADY_INITIALIZED, Reason.ALREADY_INITIALIZED) : undefined;
  if (!initialized) return err(Status.NOT_INITIALIZED, Reason.NOT_INITIALIZED);
  if (gate === Gate.INITIALIZED) return undefined;
  const role = caller.role;
  // the role the command wants: 0 for user or SO (LOGIN_NEEDED's argument, docs/protocol.md "Error details"); 4 for any
  // role, the auditor's too (docs/audit.md §7)
  const wanted = gate === Gate.USER ? Role.USER : gate === Gate.SO ? Role.SO : gate === Gate.AUDITOR ? Role.AUDITOR : gate === Gate.ANY_ROLE ? 4 : 0;
  if (role === 0) return err(Status.LOGIN_REQUIRED, Reason.LOGIN_NEEDED, [wanted]);
  // an auditor reads and acknowledges the log, nothing else: LOGGED_IN means user or SO
  if (wanted === 0 ? role === Role.AUDITOR : wanted !== 4 && role !== wanted) return err(Status.WRONG_ROLE, Reason.ROLE_NEEDED, [wanted, role]);
  return undefined;
}

function run(ctx: DeviceContext, body: Uint8Array, sessionId: number): Answer {
  if (body.length === 0) return errorBody(Status.INVALID_COMMAND, Reason.EMPTY_REQUEST);
  const code = body[0];
  const entry = TABLE[code];
  if (entry === undefined) return errorBody(Status.INVALID_COMMAND, Reason.UNKNOWN_COMMAND, [code]);
  // the envelope was authenticated just now, so the session is live; its role is what LOGIN set
  const session = sessionId === 0 ? undefined : ctx.sessions.get(sessionId);
  const caller: Caller = { sessionId, role: session !== undefined && session.ended === undefined ? session.role : 0 };
  const spec = entry.spec;
  // checked before the parameters are even decoded: nothing of a refused request is looked at
  const refused = refusal(ctx, entry, caller);
  // docs/audit.md §3.1: a request refused in the clear is not recorded. It is unauthenticated and did nothing; recording
  // it would let anything on the USB wear the flash and flush the ring.
  if (refused !== undefined && sessionId === 0) return errorBody(refused.status, refused.reason, refused.args);
  let rec: AuditRecord | undefined;
  if (spec.audit !== Audit.NOT_RECORDED) {
    // docs/audit.md §6: with forced audit and no room left, an ordinary command is refused before anything, unrecorded
    const full = ctx.audit.fullFor(spec.audit === Audit.RESERVE);
    if (full !== undefined) return errorBody(full.status, full.reason, full.args);
    rec = {
      command: code,
      session: sessionId,
      role: caller.role,
      // never the hash of a PIN or a private key: a PIN's could be guessed offline from the log (docs/audit.md §2)
      requestHash: spec.secret ? new Uint8Array(32) : ctx.env.crypto.sha256(body),
      keyId: 0,
      written: false,
      tryNext: false,
    };
  }
  if (refused !== undefined) return settle(ctx, rec, refused);
  let params: CborValue = EMPTY_MAP;
  if (body.length > 1) {
    const d = cborDecode(body.subarray(1));
    if (!d.ok) return settle(ctx, rec, err(d.status, d.reason, d.args));
    if (!(d.value instanceof Map)) return settle(ctx, rec, err(Status.INVALID_CBOR, Reason.PARAMETERS_NOT_MAP));
    params = d.value;
  }
  const req = decodeMessage<object>(spec.request, params);
  if (!req.ok) return settle(ctx, rec, req);
  const request = req.value as { keyId?: unknown; role?: unknown };
  if (rec !== undefined) {
    if (typeof request.keyId === 'number') rec.keyId = request.keyId;
    // LOGIN: the role asked for
    if (rec.role === 0 && typeof request.role === 'number') rec.role = request.role;
  }
  return finish(ctx, entry, rec, () => entry.handler(ctx, request, caller));
}

/**
 * Run a handler (or the rest of one, after the button) and turn what it gives into wire bytes. A handler that
 * throws yields INTERNAL_ERROR, never the exception text. A waiting request is handed up with a resume that
 * comes back here, so the rest of its work is guarded the same way. While it runs, its audit record is the log's
 * current one, so each commit it makes carries its entry (docs/audit.md §3).
 */
function finish(ctx: DeviceContext, entry: Entry, rec: AuditRecord | undefined, work: () => Outcome<object>): Answer {
  let res: Outcome<object>;
  const audit = ctx.audit;
  audit.current = rec;
  try {
    res = work();
  } catch (e) {
    // A flash that throws mid-commit (a failing part; on a power cut nothing is answered anyway) is the one
    // exception with a known remedy: the boot scan restores the state before or after this command.
    // Nothing more is written then, not even the audit entry: the store object is stale until the reboot.
    if (ctx.keystore.storageFault || ctx.auth.storageFault) return errorBody(Status.INTERNAL_ERROR, Reason.FLASH_WRITE_FAILED);
    return settle(ctx, rec, err(Status.INTERNAL_ERROR, Reason.HANDLER_FAILED));
  } finally {
    audit.current = undefined;
  }
  if (!waitsForPress(res)) {
    if (rec !== undefined && res.ok && rec.keyId === 0) {
      // KEY_GENERATE, KEY_IMPORT: the id the device gave
      const made = (res.value as { keyId?: unknown }).keyId;
      if (typeof made === 'number') rec.keyId = made;
    }
    return settle(ctx, rec, res, entry);
  }
  const waiting = res;
  return {
    presenceFor: waiting.presenceFor,
    resume: (outcome) => finish(ctx, entry, rec, () => waiting.resume(outcome)) as Uint8Array,
    cancels: waiting.cancels,
  };
}

/**
 * The wire answer of a request's result, once its outcome is in the audit log (docs/audit.md §3). An answer that
 * would carry a result (a signature, a key id) is withheld when its entry cannot be written: nothing leaves the device
 * unrecorded. A refusal goes out either way: it gave nothing.
 */
function settle(ctx: DeviceContext, rec: AuditRecord | undefined, res: Result<object>, entry?: Entry): Uint8Array {
  if (rec !== undefined) {
    let w: Result<void>;
    try {
      // after a flash write threw, the store object is stale until the reboot: write nothing more
      w =
        ctx.keystore.storageFault || ctx.auth.storageFault
          ? err(Status.INTERNAL_ERROR, Reason.FLASH_FAULTED)
          : ctx.audit.outcome(rec, res.ok ? Status.OK : res.status, res.ok ? 0 : res.reason);
    } catch (e) {
      // the flash failed while writing the entry (on a power cut nothing is answered anyway): power-cycle
      return errorBody(Status.INTERNAL_ERROR, Reason.FLASH_WRITE_FAILED);
    }
    if (!w.ok && res.ok)
      return w.status === Status.STORAGE_FULL
        ? errorBody(Status.STORAGE_FULL, Reason.AUDIT_NOT_RECORDED, [rec.command])
        : errorBody(w.status, w.reason, w.args);
  }
  if (!res.ok) return errorBody(res.status, res.reason, res.args);
  return respond(entry as Entry, res);
}

/** A handler's result as a response body: OK and the schema-encoded map, or the error. */
function respond(entry: Entry, res: Result<object>): Uint8Array {
  if (!res.ok) return errorBody(res.status, res.reason, res.args);
  try {
    return withStatus(Status.OK, cborEncode(encodeMessage(entry.spec.response, res.value)));
  } catch (e) {
    return errorBody(Status.INTERNAL_ERROR, Reason.RESPONSE_NOT_ENCODED);
  }
}
