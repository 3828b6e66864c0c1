// INFO: what the device is and offers (issue 2 §3): versions, id, packet size, algorithms that passed self-test, slots, platform.
import { PROTOCOL_VERSION } from '../../protocol/codes.ts';
import { type Result, ok } from '../../protocol/result.ts';
import type { InfoRequest, InfoResponse } from '../../protocol/messages/info.ts';
import type { DeviceContext } from '../context.ts';

export function info(ctx: DeviceContext, _req: InfoRequest): Result<InfoResponse> {
  const { env, keystore, selftest, deviceId, firmwareVersion, maxPacket } = ctx;
  let anyFailure = false;
  for (const _alg in selftest.failures) {
    anyFailure = true;
    break;
  }
  return ok({
    firmwareVersion,
    protocolVersion: PROTOCOL_VERSION,
    deviceId,
    maxPacket,
    algorithms: selftest.passed.slice(),
    // present only when something failed (messages/info.ts)
    selftestFailures: anyFailure ? selftest.failures : undefined,
    slotsUsed: keystore.used,
    slotsFree: keystore.free,
    platform: env.platform,
  });
}
