// ECHO: returns its data unchanged, a link check (docs/protocol.md §3 "Commands").
import { type Result, ok } from '../../protocol/result.ts';
import type { EchoRequest, EchoResponse } from '../../protocol/commands/echo.ts';
import type { DeviceContext } from '../context.ts';

export function echo(_ctx: DeviceContext, req: EchoRequest): Result<EchoResponse> {
  const { data } = req;
  return ok({ data });
}
