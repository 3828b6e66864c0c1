// What every command handler receives: the injected Env and the device's state (DESIGN.md "Layout" core/).
import type { Env } from '../hal/index.ts';
import type { KeyStore } from './keystore.ts';
import type { SelftestReport } from './selftest.ts';

export interface DeviceContext {
  readonly env: Env;
  readonly keystore: KeyStore;
  readonly selftest: SelftestReport;
  /** Algorithm id → offered (self-test passed). Built once at boot so a request costs one index. */
  readonly offered: readonly boolean[];
  readonly deviceId: Uint8Array;
  readonly firmwareVersion: string;
  readonly maxPacket: number;
}
