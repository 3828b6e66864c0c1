// What every command handler receives: the injected Env and the device's state (DESIGN.md "Layout" core/).
import type { Env } from '../hal/index.ts';
import type { KeyStore } from './keystore.ts';
import type { SelftestReport } from './selftest.ts';
import type { Store } from './store/index.ts';
import type { Identity } from './identity.ts';
import type { SessionTable } from './session/index.ts';

export interface DeviceContext {
  readonly env: Env;
  /** Keys: RAM slots backed by the flash store (a change is committed before RAM changes). */
  readonly keystore: KeyStore;
  /** The flash record store (DESIGN.md "Storage"); handlers change it only through the keystore and friends. */
  readonly store: Store;
  /** True when the platform has no flash and the store lives in RAM (INFO flashVolatile). */
  readonly flashVolatile: boolean;
  readonly selftest: SelftestReport;
  /** Algorithm id → offered (self-test passed). Built once at boot so a request costs one index. */
  readonly offered: readonly boolean[];
  readonly deviceId: Uint8Array;
  /** The Ed25519 identity key (DESIGN.md "Identity"); absent where Ed25519 is not offered. */
  readonly identity: Identity | undefined;
  readonly firmwareVersion: string;
  readonly maxPacket: number;
  /** Secure sessions (docs/session.md §6): RAM only, so a restart ends every session. */
  readonly sessions: SessionTable;
}
