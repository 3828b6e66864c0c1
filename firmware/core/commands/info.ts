// INFO: what the device is and offers (docs/protocol.md §4): versions, id, identity, packet size, algorithms that passed self-test, slots, flash, PIN state.
import { PROTOCOL_VERSION, Role } from '../../protocol/codes.ts';
import { type Result, ok } from '../../protocol/result.ts';
import { MAX_PAGES } from '../../protocol/commands/limits.ts';
import type { InfoRequest, InfoResponse } from '../../protocol/commands/info.ts';
import type { DeviceContext } from '../context.ts';
import { PIN_MIN_BITS } from '../auth/pin_strength.ts';

declare const TINYHSM_WITHOUT_DOMAIN: boolean | undefined;

export function info(ctx: DeviceContext, _req: InfoRequest): Result<InfoResponse> {
  const { env, keystore, store, selftest, deviceId, identity, firmwareVersion, maxPacket, flashVolatile, auth, officers, domain } = ctx;
  let anyFailure = false;
  for (const _alg in selftest.failures) {
    anyFailure = true;
    break;
  }
  const st = store.stats();
  // the schema caps the list (commands/limits.ts MAX_PAGES); a bigger flash reports its first pages
  const erase = st.eraseCounts.length > MAX_PAGES ? st.eraseCounts.slice(0, MAX_PAGES) : st.eraseCounts.slice();
  return ok({
    firmwareVersion,
    protocolVersion: PROTOCOL_VERSION,
    deviceId,
    maxPacket,
    algorithms: selftest.passed.slice(),
    // present only when something failed (protocol/commands/info.ts)
    selftestFailures: anyFailure ? selftest.failures : undefined,
    slotsUsed: keystore.used,
    slotsFree: keystore.free,
    platform: env.platform,
    identityPublicKey: identity === undefined ? undefined : identity.publicKey,
    flashPageSize: st.pageSize,
    flashPages: st.pages,
    flashBytesUsed: st.bytesUsed,
    flashBytesFree: st.bytesFree,
    flashEraseCounts: erase,
    // present only on a RAM store, like selftestFailures: absence means the keys survive power-off
    flashVolatile: flashVolatile ? true : undefined,
    // docs/security.md §1: in the clear, so a host can tell a factory-new device and how many tries are left
    initialized: auth.initialized,
    label: auth.label,
    userPinTries: auth.initialized ? auth.triesLeft(Role.USER) : undefined,
    soPinTries: auth.initialized ? auth.triesLeft(Role.SO) : undefined,
    pinLocked: auth.initialized ? auth.lockedUntilPowerCycle : undefined,
    pinIterations: auth.pinIterations,
    presence: env.presence !== undefined,
    // docs/security.md §4.1: the floor a new PIN must clear (no board here has flash readout protection)
    pinMinBits: PIN_MIN_BITS,
    // docs/storage.md §12; docs/security.md §9 says what an old image does where this is false
    rollbackProtection: ctx.rollback.protection,
    rolledBack: ctx.rollback.rolledBack !== undefined ? true : undefined,
    // docs/quorum.md §1: absent while no officers are enrolled
    threshold: officers.threshold > 0 ? officers.threshold : undefined,
    officers: officers.threshold > 0 ? officers.describe(env.crypto) : undefined,
    domainId: domain.id,
    withoutDomain: typeof TINYHSM_WITHOUT_DOMAIN !== 'undefined' && TINYHSM_WITHOUT_DOMAIN ? true : undefined,
  });
}
