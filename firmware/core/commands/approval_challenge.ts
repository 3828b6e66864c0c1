// APPROVAL_CHALLENGE: a fresh single-use challenge for officer approvals; it replaces the last one (docs/quorum.md §2).
import { type Result, ok } from '../../protocol/result.ts';
import type { ApprovalChallengeRequest, ApprovalChallengeResponse } from '../../protocol/commands/approval_challenge.ts';
import type { DeviceContext } from '../context.ts';

export function approvalChallenge(ctx: DeviceContext, _req: ApprovalChallengeRequest): Result<ApprovalChallengeResponse> {
  return ok({ challenge: ctx.officers.newChallenge(ctx.env.rng) });
}
