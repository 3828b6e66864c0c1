// The message table: one request and one response schema per command code, the contract both sides share.
import { Command } from '../codes.ts';
import type { Schema } from '../schema.ts';
import { InfoRequestSchema, InfoResponseSchema } from './info.ts';
import { EchoRequestSchema, EchoResponseSchema } from './echo.ts';
import { RandomRequestSchema, RandomResponseSchema } from './random.ts';
import { KeyGenerateRequestSchema, KeyGenerateResponseSchema } from './key_generate.ts';
import { KeyImportRequestSchema, KeyImportResponseSchema } from './key_import.ts';
import { KeyListRequestSchema, KeyListResponseSchema } from './key_list.ts';
import { KeyPublicRequestSchema, KeyPublicResponseSchema } from './key_public.ts';
import { KeyDeleteRequestSchema, KeyDeleteResponseSchema } from './key_delete.ts';
import { SignRequestSchema, SignResponseSchema } from './sign.ts';
import { EcdhRequestSchema, EcdhResponseSchema } from './ecdh.ts';
import { SessionOpenRequestSchema, SessionOpenResponseSchema } from './session_open.ts';
import { SessionMessageRequestSchema, SessionMessageResponseSchema } from './session_message.ts';
import { SessionCloseRequestSchema, SessionCloseResponseSchema } from './session_close.ts';
import { InitRequestSchema, InitResponseSchema } from './init.ts';
import { LoginRequestSchema, LoginResponseSchema } from './login.ts';
import { LogoutRequestSchema, LogoutResponseSchema } from './logout.ts';
import { ChangePinRequestSchema, ChangePinResponseSchema } from './change_pin.ts';
import { UnblockRequestSchema, UnblockResponseSchema } from './unblock.ts';
import { KeySetPolicyRequestSchema, KeySetPolicyResponseSchema } from './key_set_policy.ts';
import { KeyAttestRequestSchema, KeyAttestResponseSchema } from './key_attest.ts';

export interface MessagePair {
  request: Schema;
  response: Schema;
  /**
   * Running the command twice has the effect of running it once (it reads, or sets what it would set again), so a
   * host may send it again in a new session after an outer SESSION_INVALID. That status is not authenticated: a
   * man in the middle can let a request run, drop its sealed answer and forge SESSION_INVALID, so a command without
   * this flag is never sent twice by the host, which reports that it may have run (docs/protocol.md §6).
   */
  resend?: true;
}

export const MESSAGES: { readonly [code: number]: MessagePair } = {
  [Command.INFO]: { request: InfoRequestSchema, response: InfoResponseSchema, resend: true },
  [Command.ECHO]: { request: EchoRequestSchema, response: EchoResponseSchema, resend: true },
  [Command.RANDOM]: { request: RandomRequestSchema, response: RandomResponseSchema, resend: true },
  [Command.KEY_GENERATE]: { request: KeyGenerateRequestSchema, response: KeyGenerateResponseSchema },
  [Command.KEY_IMPORT]: { request: KeyImportRequestSchema, response: KeyImportResponseSchema },
  [Command.KEY_LIST]: { request: KeyListRequestSchema, response: KeyListResponseSchema, resend: true },
  [Command.KEY_PUBLIC]: { request: KeyPublicRequestSchema, response: KeyPublicResponseSchema, resend: true },
  [Command.KEY_DELETE]: { request: KeyDeleteRequestSchema, response: KeyDeleteResponseSchema },
  [Command.SIGN]: { request: SignRequestSchema, response: SignResponseSchema, resend: true },
  [Command.ECDH]: { request: EcdhRequestSchema, response: EcdhResponseSchema, resend: true },
  [Command.SESSION_OPEN]: { request: SessionOpenRequestSchema, response: SessionOpenResponseSchema },
  [Command.SESSION_MESSAGE]: { request: SessionMessageRequestSchema, response: SessionMessageResponseSchema },
  [Command.SESSION_CLOSE]: { request: SessionCloseRequestSchema, response: SessionCloseResponseSchema },
  [Command.INIT]: { request: InitRequestSchema, response: InitResponseSchema },
  [Command.LOGIN]: { request: LoginRequestSchema, response: LoginResponseSchema },
  [Command.LOGOUT]: { request: LogoutRequestSchema, response: LogoutResponseSchema, resend: true },
  [Command.CHANGE_PIN]: { request: ChangePinRequestSchema, response: ChangePinResponseSchema },
  [Command.UNBLOCK]: { request: UnblockRequestSchema, response: UnblockResponseSchema },
  [Command.KEY_SET_POLICY]: { request: KeySetPolicyRequestSchema, response: KeySetPolicyResponseSchema, resend: true },
  [Command.KEY_ATTEST]: { request: KeyAttestRequestSchema, response: KeyAttestResponseSchema, resend: true },
};

export * from './info.ts';
export * from './echo.ts';
export * from './random.ts';
export * from './key_generate.ts';
export * from './key_import.ts';
export * from './key_list.ts';
export * from './key_public.ts';
export * from './key_delete.ts';
export * from './sign.ts';
export * from './ecdh.ts';
export * from './session_open.ts';
export * from './session_message.ts';
export * from './session_close.ts';
export * from './init.ts';
export * from './login.ts';
export * from './logout.ts';
export * from './change_pin.ts';
export * from './unblock.ts';
export * from './key_set_policy.ts';
export * from './key_attest.ts';
export * from './policy.ts';
export * from './attestation.ts';
export * from './limits.ts';
