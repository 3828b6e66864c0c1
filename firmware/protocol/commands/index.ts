// The command table: every command's declaration by its code (codes.ts Command), the one list that the device's dispatcher, the host and the test helpers read.
import { Command } from '../codes.ts';
import type { CommandSpec } from './spec.ts';
import { InfoCommand } from './info.ts';
import { EchoCommand } from './echo.ts';
import { RandomCommand } from './random.ts';
import { KeyGenerateCommand } from './key_generate.ts';
import { KeyImportCommand } from './key_import.ts';
import { KeyListCommand } from './key_list.ts';
import { KeyPublicCommand } from './key_public.ts';
import { KeyDeleteCommand } from './key_delete.ts';
import { SignCommand } from './sign.ts';
import { EcdhCommand } from './ecdh.ts';
import { SessionOpenCommand } from './session_open.ts';
import { SessionMessageCommand } from './session_message.ts';
import { SessionCloseCommand } from './session_close.ts';
import { InitCommand } from './init.ts';
import { LoginCommand } from './login.ts';
import { LogoutCommand } from './logout.ts';
import { ChangePinCommand } from './change_pin.ts';
import { UnblockCommand } from './unblock.ts';
import { KeySetPolicyCommand } from './key_set_policy.ts';
import { KeyAttestCommand } from './key_attest.ts';
import { ApprovalChallengeCommand } from './approval_challenge.ts';
import { OfficersSetCommand } from './officers_set.ts';
import { ResetCommand } from './reset.ts';
import { DomainCreateCommand } from './domain_create.ts';
import { DomainJoinCommand } from './domain_join.ts';
import { BackupExportCommand } from './backup_export.ts';
import { BackupImportCommand } from './backup_import.ts';
import { ShareResealCommand } from './share_reseal.ts';
import { AuditReadCommand } from './audit_read.ts';
import { AuditCheckpointCommand } from './audit_checkpoint.ts';
import { AuditAckCommand } from './audit_ack.ts';
import { AuditSetCommand } from './audit_set.ts';
import { SignBeginCommand } from './sign_begin.ts';
import { SignUpdateCommand } from './sign_update.ts';

/**
 * Command code → declaration, with each declaration's own schema types (for the typed handler table, core/dispatch.ts).
 * Made inside a function so that the declarations are read from an inner function: JerryScript 2.4 (Kaluma) keeps a
 * variable that only the bundle's outermost function reads in a register and crashes at boot once there are too many
 * (docs/boards.md "Kaluma"); twenty top-level-only declarations were enough to crash the Pico 2 image.
 */
function commandTable() {
  return {
    [Command.INFO]: InfoCommand,
    [Command.ECHO]: EchoCommand,
    [Command.RANDOM]: RandomCommand,
    [Command.KEY_GENERATE]: KeyGenerateCommand,
    [Command.KEY_IMPORT]: KeyImportCommand,
    [Command.KEY_LIST]: KeyListCommand,
    [Command.KEY_PUBLIC]: KeyPublicCommand,
    [Command.KEY_DELETE]: KeyDeleteCommand,
    [Command.SIGN]: SignCommand,
    [Command.ECDH]: EcdhCommand,
    [Command.SESSION_OPEN]: SessionOpenCommand,
    [Command.SESSION_MESSAGE]: SessionMessageCommand,
    [Command.SESSION_CLOSE]: SessionCloseCommand,
    [Command.INIT]: InitCommand,
    [Command.LOGIN]: LoginCommand,
    [Command.LOGOUT]: LogoutCommand,
    [Command.CHANGE_PIN]: ChangePinCommand,
    [Command.UNBLOCK]: UnblockCommand,
    [Command.KEY_SET_POLICY]: KeySetPolicyCommand,
    [Command.KEY_ATTEST]: KeyAttestCommand,
    [Command.APPROVAL_CHALLENGE]: ApprovalChallengeCommand,
    [Command.OFFICERS_SET]: OfficersSetCommand,
    [Command.RESET]: ResetCommand,
    [Command.DOMAIN_CREATE]: DomainCreateCommand,
    [Command.DOMAIN_JOIN]: DomainJoinCommand,
    [Command.BACKUP_EXPORT]: BackupExportCommand,
    [Command.BACKUP_IMPORT]: BackupImportCommand,
    [Command.SHARE_RESEAL]: ShareResealCommand,
    [Command.AUDIT_READ]: AuditReadCommand,
    [Command.AUDIT_CHECKPOINT]: AuditCheckpointCommand,
    [Command.AUDIT_ACK]: AuditAckCommand,
    [Command.AUDIT_SET]: AuditSetCommand,
    [Command.SIGN_BEGIN]: SignBeginCommand,
    [Command.SIGN_UPDATE]: SignUpdateCommand,
  } as const;
}
/** The declarations by code, as types: what each command's request and response are. */
export type CommandTable = ReturnType<typeof commandTable>;

/** Command code → declaration. A new command: its file here (schemas and declaration), its line above, its code in codes.ts. */
export const COMMANDS: { readonly [code: number]: CommandSpec } = commandTable();

export * from './spec.ts';
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
export * from './approval_challenge.ts';
export * from './officers_set.ts';
export * from './reset.ts';
export * from './domain_create.ts';
export * from './domain_join.ts';
export * from './backup_export.ts';
export * from './backup_import.ts';
export * from './share_reseal.ts';
export * from './audit_read.ts';
export * from './audit_checkpoint.ts';
export * from './audit_ack.ts';
export * from './audit_set.ts';
export * from './sign_begin.ts';
export * from './sign_update.ts';
export * from './domain.ts';
export * from './approvals.ts';
export * from './policy.ts';
export * from './attestation.ts';
export * from './limits.ts';
