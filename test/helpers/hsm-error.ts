// The HsmError a host call must fail with, for tests of the host library and the CLI (host/errors.ts).
import { expect } from 'vitest';
import { HsmError } from '../../host/index.ts';

/**
 * The error `p` rejects with, which must be an HsmError (a resolved `p` fails the test). The handlers are attached at
 * once, so a rejection that comes while fake timers hold the test back is never reported as unhandled.
 */
export async function hsmFailure(p: Promise<unknown>): Promise<HsmError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(HsmError);
  return e as HsmError;
}
