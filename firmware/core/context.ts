// What every command handler receives: the injected Env and the device's state (docs/architecture.md §2, core/).
import type { Env } from '../hal/index.ts';
import type { KeyStore } from './keystore.ts';
import type { SelftestReport } from './selftest.ts';
import type { Store } from './store/index.ts';
import type { Identity } from './identity.ts';
import type { SessionTable } from './session/index.ts';
import type { AuthState } from './auth/state.ts';
import type { RollbackState } from './rollback.ts';
import type { Officers } from './officers.ts';
import type { Domain } from './domain.ts';
import type { AuditLog } from './audit.ts';

/** Who sent the request a handler runs: its session (0: in the clear) and that session's role (codes.ts Role; 0: none). */
export interface Caller {
  readonly sessionId: number;
  readonly role: number;
}

export interface DeviceContext {
  readonly env: Env;
  /** Keys: RAM slots backed by the flash store (a change is committed before RAM changes). */
  readonly keystore: KeyStore;
  /** The flash record store (docs/storage.md); handlers change it only through the keystore and friends. */
  readonly store: Store;
  /** True when the platform has no flash and the store lives in RAM (INFO flashVolatile). */
  readonly flashVolatile: boolean;
  readonly selftest: SelftestReport;
  /** Algorithm id → offered (self-test passed). Built once at boot so a request costs one index. */
  readonly offered: readonly boolean[];
  readonly deviceId: Uint8Array;
  /** The Ed25519 identity key (docs/architecture.md §5); absent where Ed25519 is not offered. */
  readonly identity: Identity | undefined;
  readonly firmwareVersion: string;
  readonly maxPacket: number;
  /** Secure sessions (docs/session.md §6): RAM only, so a restart ends every session. */
  readonly sessions: SessionTable;
  /** PINs, retry counters, the master key while some session is logged in (docs/security.md §4–§5; core/auth/state.ts). */
  readonly auth: AuthState;
  /** Whether the store is bound to a monotonic counter, and whether the flash was found rolled back (core/rollback.ts). */
  readonly rollback: RollbackState;
  /** The officers, their threshold and the approval challenge (docs/quorum.md; core/officers.ts). */
  readonly officers: Officers;
  /** The domain id, and the domain's wrap key sealed under the master key (docs/quorum.md §8; core/domain.ts). */
  readonly domain: Domain;
  /** The audit log: its ring, head, forced-audit state, and the request being recorded (docs/audit.md; core/audit.ts). */
  readonly audit: AuditLog;
}
