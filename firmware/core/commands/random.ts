// RANDOM: `length` bytes from the HAL RNG (the board's TRNG; seeded only in the simulator's test mode).
import { type Result, ok } from '../../protocol/result.ts';
import type { RandomRequest, RandomResponse } from '../../protocol/commands/random.ts';
import type { DeviceContext } from '../context.ts';

export function random(ctx: DeviceContext, req: RandomRequest): Result<RandomResponse> {
  const { env } = ctx;
  const { length } = req;
  const bytes = new Uint8Array(length);
  env.rng.fill(bytes);
  return ok({ bytes });
}
