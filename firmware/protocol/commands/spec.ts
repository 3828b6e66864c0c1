// What a command declaration holds (code aside: codes.ts Command is the one table of codes): its access gate, flags and schemas.
import type { Schema } from '../schema.ts';

/**
 * Who may run a command (docs/protocol.md §6 "Access", docs/security.md §2). Every command has exactly one gate.
 * A TypeScript enum, so esbuild writes each use as its number and no gate name reaches a device bundle.
 */
export enum Gate {
  /** In the clear or in a session, no login (INFO, ECHO). */
  CLEAR = 1,
  /** In a session, whatever the device's state and the session's role. */
  SESSION = 2,
  /** In a session, on a factory-new device only. */
  UNINITIALIZED = 3,
  /** In a session, on an initialized device, any role or none. */
  INITIALIZED = 4,
  /** In a session logged in as user or SO. */
  LOGGED_IN = 5,
  /** In a session logged in as user. */
  USER = 6,
  /** In a session logged in as SO. */
  SO = 7,
  /** In the clear only: a session cannot carry another one (SESSION_OPEN, SESSION_MESSAGE). */
  OUTER = 8,
  /**
   * In a session on a device that can open one; in the clear on a device that cannot open any, because its
   * self-tests offer no Ed25519 identity and no X25519 handshake (Espruino: no BigInt). Decided by the self-tests
   * alone, never by what is in flash (docs/protocol.md §6 "Gating rule", docs/security.md §2).
   */
  SESSION_IF_CAPABLE = 9,
  /** In a session logged in as any role, auditor included (AUDIT_READ, AUDIT_CHECKPOINT). */
  ANY_ROLE = 10,
  /** In a session logged in as auditor (AUDIT_ACK). */
  AUDITOR = 11,
}

/**
 * How the audit log treats a command (docs/audit.md §3). A TypeScript enum: esbuild inlines the numbers.
 * Unset: every run is recorded, and forced audit refuses it when the log has no room left.
 */
export enum Audit {
  /** Not recorded: it reads public facts or the log itself, or is the envelope whose inner command is recorded. */
  NOT_RECORDED = 1,
  /** Recorded, and still run when forced audit has no room left (using the log's reserve): what the auditor needs to collect the log. */
  RESERVE = 2,
}

/** One command's declaration, read by the device's dispatcher, the host driver and the test helpers alike. */
export interface CommandSpec {
  readonly gate: Gate;
  readonly request: Schema;
  readonly response: Schema;
  /**
   * Running the command twice has the effect of running it once (it reads, or sets what it would set again), so a
   * host may send it again in a new session after an outer SESSION_INVALID. That status is not authenticated: a
   * man in the middle can let a request run, drop its sealed answer and forge SESSION_INVALID, so a command without
   * this flag is never sent twice by the host, which reports that it may have run (docs/protocol.md §6).
   */
  readonly resend?: true;
  /** The request carries a PIN or a private key: a host wipes its encoded plaintext once it is sent (docs/protocol.md §6). */
  readonly secret?: true;
  /** The audit log's treatment (Audit above); unset: recorded, refused by forced audit when the log is full. */
  readonly audit?: Audit;
}

/** A gate a host meets without a session: the command goes in the clear (docs/protocol.md §6). */
export function sentInClear(spec: CommandSpec): boolean {
  return spec.gate === Gate.CLEAR || spec.gate === Gate.OUTER;
}

/** A gate that asks the session for a role (LOGIN_REQUIRED / WRONG_ROLE otherwise). */
export function needsRole(spec: CommandSpec): boolean {
  return spec.gate === Gate.LOGGED_IN || spec.gate === Gate.USER || spec.gate === Gate.SO || spec.gate === Gate.ANY_ROLE || spec.gate === Gate.AUDITOR;
}
