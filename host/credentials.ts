// Roles and PINs as the host takes them (docs/security.md §1, §4): a role's wire id, a PIN's bytes checked for length, and the role and PIN a client keeps to log in again.
import { MAX_PIN, MIN_PIN, Role } from '../firmware/protocol/index.ts';
import { HsmError } from './errors.ts';

/** 'user' (key use), 'so' (administration) or 'auditor' (reads and acknowledges the audit log), docs/security.md §1. */
export type RoleName = 'user' | 'so' | 'auditor';

/** A PIN: a string is sent as its UTF-8 bytes; 6 to 64 bytes. */
export type PinInput = string | Uint8Array;

/** A role and PIN kept for logging in again; the holder zeroes `pin` when it lets go of it. */
export interface Credentials {
  role: number;
  pin: Uint8Array;
}

/** A role given by name or number to its wire id (codes.ts Role); throws BAD_ARGUMENT. */
export function roleId(role: RoleName | number): number {
  if (role === Role.USER || role === 'user') return Role.USER;
  if (role === Role.SO || role === 'so') return Role.SO;
  if (role === Role.AUDITOR || role === 'auditor') return Role.AUDITOR;
  throw new HsmError('BAD_ARGUMENT', `unknown role ${JSON.stringify(role)}: use "user", "so" or "auditor"`);
}

/** A PIN as a fresh byte array (UTF-8 of a string) the caller owns and wipes; throws BAD_ARGUMENT unless 6–64 bytes. */
export function pinBytes(pin: PinInput, what = 'the PIN'): Uint8Array {
  let b: Uint8Array;
  if (typeof pin === 'string') b = new Uint8Array(Buffer.from(pin, 'utf8'));
  else if (pin instanceof Uint8Array) b = new Uint8Array(pin);
  else throw new HsmError('BAD_ARGUMENT', `${what} must be a string or bytes`);
  if (b.length < MIN_PIN || b.length > MAX_PIN) {
    const n = b.length;
    b.fill(0);
    throw new HsmError('BAD_ARGUMENT', `${what} must be ${MIN_PIN} to ${MAX_PIN} bytes (UTF-8), got ${n}`);
  }
  return b;
}

/** ClientOptions.login checked and copied into credentials the client owns; throws BAD_ARGUMENT. */
export function loginCredentials(login: { role: RoleName | number; pin: PinInput }): Credentials {
  return { role: roleId(login.role), pin: pinBytes(login.pin, 'the login PIN') };
}
