// HsmError: what went wrong talking to the device, with the device's status code and what a person can do about it (docs/architecture.md §7).
import { Reason, STATUS_HINTS, Status, nameOf, type StatusName } from '../firmware/protocol/index.ts';
import { renderReason } from './render.ts';

/** Failures on the host side of the link, which have no device status code. */
export type TransportErrorCode =
  /** No answer within the timeout, after every retransmission. */
  | 'TIMEOUT'
  /** The port, socket or client was closed while a request was waiting. */
  | 'CLOSED'
  /** The caller's AbortSignal fired. */
  | 'ABORTED'
  /** The OS refused to open, read or write the link. */
  | 'IO'
  /** No device was found, or the path does not exist. */
  | 'NO_DEVICE'
  /** The device answered something this host cannot parse (wrong schema, bad CBOR). */
  | 'BAD_RESPONSE'
  /** The caller passed something the host can refuse before sending (unknown algorithm name, …). */
  | 'BAD_ARGUMENT'
  /** The device is not in the known-devices file and the caller did not pass trust (--trust). */
  | 'UNKNOWN_DEVICE'
  /** The device's identity key differs from the pinned one (reset, replaced, or impersonated). */
  | 'IDENTITY_CHANGED'
  /** The known-devices file cannot be read or written, or is damaged. */
  | 'KNOWN_DEVICES_FILE'
  /** The host refused the session: a handshake or response envelope that does not verify (docs/session.md §2, §5). */
  | 'SESSION_REFUSED'
  /** A KEY_ATTEST statement that does not verify against the pinned identity, or answers another nonce, device or key (docs/security.md §8). */
  | 'ATTESTATION_INVALID'
  /** An audit log that does not verify: a checkpoint not signed by the pinned identity, a broken chain, a gap or a rollback (docs/audit.md). */
  | 'AUDIT_INVALID'
  /**
   * A command that must not run twice got an outer SESSION_INVALID after it was sent: it may have run (that status is
   * not authenticated), so the host did not send it again (docs/protocol.md §6).
   */
  | 'MAY_HAVE_RUN';

export type HsmErrorCode = StatusName | TransportErrorCode;

const TRANSPORT_HINTS: { readonly [K in TransportErrorCode]: string } = {
  TIMEOUT: 'check the device path, the cable and that the board or `tinyhsm sim` is running; a board busy with another host does not answer',
  CLOSED: 'the link went away; reconnect the board or restart the simulator and try again',
  ABORTED: 'the request was cancelled by the caller',
  IO: 'check that the path is right and that you may open it (on Linux: the dialout group)',
  NO_DEVICE: 'plug in a board, or start a simulator with `tinyhsm sim --pty` and pass its path with --device or HSM_DEVICE',
  BAD_RESPONSE: 'the device and this host disagree about the protocol; update one of them, and report it if they match',
  BAD_ARGUMENT: 'fix the argument named in the message',
  UNKNOWN_DEVICE: 'if this is your device, pin it: pass --trust to the CLI, or { trust: true } to HsmClient.open',
  IDENTITY_CHANGED: 'do not use this device until you know why its identity changed; see docs/session.md §9',
  KNOWN_DEVICES_FILE: 'fix or move the file named in the message, or point HSM_KNOWN_DEVICES at another one',
  SESSION_REFUSED: 'the device or something on the link answered with bytes that do not authenticate; nothing was trusted; check the link and retry',
  ATTESTATION_INVALID: 'do not rely on this statement: check that you talk to the device you pinned (known-devices file) and that nothing alters the link',
  AUDIT_INVALID:
    'do not trust this log: the message names the entry and what is wrong; keep the file as evidence, and check that you talk to the device you pinned (docs/audit.md §9)',
  MAY_HAVE_RUN: 'check on the device whether it ran (the message says how) before you send it again',
};

/**
 * A failed request. Device errors carry `status` (the wire code), `statusName`, the device's `reason` and `args`
 * (docs/protocol.md "Error details") and `deviceMessage`, the host's words for them (render.ts); host-side failures
 * carry a `code` such as 'TIMEOUT' (and `statusName` equals `code`, `status` is undefined). `message` reads
 * "KEY_NOT_FOUND: no key with id 7 (hint)" and never contains key bytes.
 */
export class HsmError extends Error {
  override readonly name = 'HsmError';
  /** statusName for device errors; a TransportErrorCode otherwise. */
  readonly code: HsmErrorCode;
  /** The wire status code (Status table); undefined for host-side failures. */
  readonly status: number | undefined;
  readonly statusName: HsmErrorCode;
  /** What the device reported, in the host's words (render.ts renders reason and args; the device sends no text). */
  readonly deviceMessage: string | undefined;
  /** The device's reason code (firmware/protocol/reasons.ts); undefined for host-side failures or a device that gave none. */
  readonly reason: number | undefined;
  /** The reason's name ('KEY_NOT_FOUND'), undefined when this host does not know the code. */
  readonly reasonName: string | undefined;
  /** The reason's integer arguments, in wire order (keys 2, 3, …); empty for host-side failures. */
  readonly args: readonly number[];
  /** What a person can do about it (STATUS_HINTS for device errors). */
  readonly hint: string;
  /** The command that failed, when there was one. */
  readonly command: string | undefined;

  constructor(
    code: HsmErrorCode,
    detail: string,
    extra: { status?: number; deviceMessage?: string; reason?: number; args?: readonly number[]; hint?: string; command?: string; cause?: unknown } = {},
  ) {
    const hint = extra.hint !== undefined ? extra.hint : hintFor(code);
    super(`${code}: ${detail}${hint ? ` (${hint})` : ''}`);
    // set by hand: the es2020 lib has no ErrorOptions; Node still shows it in stack traces
    if (extra.cause !== undefined) Object.defineProperty(this, 'cause', { value: extra.cause, configurable: true, writable: true });
    this.code = code;
    this.statusName = code;
    this.status = extra.status;
    this.deviceMessage = extra.deviceMessage;
    this.reason = extra.reason;
    const rn = extra.reason === undefined ? undefined : (Reason as unknown as { [code: number]: unknown })[extra.reason];
    this.reasonName = typeof rn === 'string' ? rn : undefined;
    this.args = extra.args || [];
    this.hint = hint;
    this.command = extra.command;
  }

  /** An error status the device returned, with its reason and arguments (rendered here, for `command`'s fields). */
  static fromStatus(status: number, reason: number | undefined, args: readonly number[], command?: string): HsmError {
    const deviceMessage = renderReason(reason, args, { command });
    const name = nameOf(Status, status);
    const extra = { status, deviceMessage, reason, args, command };
    if (name === undefined) return new HsmError('BAD_RESPONSE', `unknown status 0x${status.toString(16).padStart(2, '0')}: ${deviceMessage}`, extra);
    return new HsmError(name, deviceMessage, extra);
  }

  /** True when the error came from the device (it has a wire status code). */
  get fromDevice(): boolean {
    return this.status !== undefined;
  }
}

function hintFor(code: HsmErrorCode): string {
  const t = TRANSPORT_HINTS as { [k: string]: string };
  if (t[code] !== undefined) return t[code];
  return (STATUS_HINTS as { [k: string]: string })[code] || '';
}
