// BACKUP_IMPORT: open a backup blob of this device's domain and restore its keys with their policies, marked restored, all in one store transaction (docs/quorum.md §9.2).
import { Command, Origin, Status, type AlgId } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import { cborDecode } from '../../protocol/cbor.ts';
import { equalBytes } from '../../protocol/bytes.ts';
import { type Schema, decodeMessage } from '../../protocol/schema.ts';
import { MAX_LABEL } from '../../protocol/commands/limits.ts';
import { type BackupImportRequest, type BackupImportResponse, BackupImportRequestSchema } from '../../protocol/commands/backup_import.ts';
import { BACKUP_HEADER_BYTES, BACKUP_VERSION, DOMAIN_ID_BYTES, backupKey } from '../../protocol/commands/domain.ts';
import type { DeviceContext } from '../context.ts';
import { type RestoredKey, keyCrypto } from '../keystore.ts';
import { offeredMechanism } from '../mechanisms/index.ts';
import { policyAtCreation } from '../policy.ts';
import { PRIVATE_KEY_LENGTH } from '../records.ts';

/** A key's clear part in a backup (docs/quorum.md §9.1). */
const BackupKeySchema = [
  { key: 1, name: 'id', type: { t: 'uint', min: 1, max: 0xffff } },
  { key: 2, name: 'alg', type: { t: 'uint', max: 255 } },
  { key: 3, name: 'label', type: { t: 'text', max: MAX_LABEL } },
  { key: 4, name: 'origin', type: { t: 'uint', min: Origin.GENERATED, max: Origin.RESTORED_IMPORTED } },
  { key: 5, name: 'capabilities', type: { t: 'uint', max: 0xff } },
  { key: 6, name: 'sensitive', type: { t: 'bool' } },
  { key: 7, name: 'touch', type: { t: 'bool' } },
  { key: 8, name: 'protected', type: { t: 'bool' }, optional: true },
] as const satisfies Schema;

interface BackupKey {
  id: number;
  alg: number;
  label: string;
  origin: number;
  capabilities: number;
  sensitive: boolean;
  touch: boolean;
  protected?: boolean;
}

export function backupImport(ctx: DeviceContext, req: BackupImportRequest): Result<BackupImportResponse> {
  const { env, officers, domain, keystore, deviceId } = ctx;
  const { blob } = req;
  if (!domain.present) return err(Status.OPERATION_NOT_PERMITTED, Reason.NO_DOMAIN, [Command.BACKUP_IMPORT]);
  if (blob[0] !== BACKUP_VERSION) return err(Status.INVALID_PARAMETER, Reason.BACKUP_DAMAGED);
  const id = domain.id;
  if (id !== undefined && !equalBytes(blob.subarray(1, 1 + DOMAIN_ID_BYTES), id)) return err(Status.INVALID_PARAMETER, Reason.DOMAIN_MISMATCH);
  const approved = officers.check(env.crypto, deviceId, Command.BACKUP_IMPORT, BackupImportRequestSchema, req);
  if (!approved.ok) return approved;
  const kc = keyCrypto(ctx);
  if (!kc.ok) return kc;
  const wrap = domain.open(kc.value, Command.BACKUP_IMPORT);
  if (!wrap.ok) return wrap;
  const k = backupKey(env.crypto, wrap.value, id as Uint8Array);
  wrap.value.fill(0);
  const header = blob.subarray(0, BACKUP_HEADER_BYTES);
  const plain = env.crypto.aeadOpen(k, header.subarray(1 + DOMAIN_ID_BYTES), blob.subarray(BACKUP_HEADER_BYTES), header);
  k.fill(0);
  if (plain === undefined) return err(Status.INVALID_PARAMETER, Reason.BACKUP_DAMAGED);
  const keys: RestoredKey[] = [];
  const secrets: Uint8Array[] = [];
  try {
    // an authentic blob that does not parse is one this firmware cannot read (a newer format): refused whole
    const damaged = err(Status.INVALID_PARAMETER, Reason.BACKUP_DAMAGED);
    const count = plain[DOMAIN_ID_BYTES];
    if (count === 0) return damaged;
    let o = DOMAIN_ID_BYTES + 1;
    for (let i = 0; i < count; i++) {
      const n = plain[o++];
      if (!(o + n + PRIVATE_KEY_LENGTH <= plain.length)) return damaged;
      const d = cborDecode(plain.subarray(o, o + n));
      const m = d.ok ? decodeMessage<BackupKey>(BackupKeySchema, d.value) : undefined;
      if (m === undefined || !m.ok) return damaged;
      o += n;
      const sk = plain.slice(o, o + PRIVATE_KEY_LENGTH);
      secrets.push(sk);
      o += PRIVATE_KEY_LENGTH;
      const mech = offeredMechanism(ctx, m.value.alg);
      if (!mech.ok) return mech;
      // a key first generated stays "generated" in its history, a key first imported stays "imported" (codes.ts Origin)
      const origin = m.value.origin === Origin.GENERATED || m.value.origin === Origin.RESTORED_GENERATED ? Origin.RESTORED_GENERATED : Origin.RESTORED_IMPORTED;
      const policy = policyAtCreation(m.value.alg, m.value, origin);
      if (!policy.ok) return policy;
      let publicKey: Uint8Array;
      try {
        publicKey = mech.value.publicKey(env.crypto, sk);
      } catch (e) {
        return err(Status.INVALID_KEY, Reason.PRIVATE_KEY_INVALID, [m.value.alg]);
      }
      keys.push({ id: m.value.id, alg: m.value.alg as AlgId, label: m.value.label, origin, privateKey: sk, publicKey, policy: policy.value });
    }
    if (o !== plain.length) return damaged;
    const done = keystore.restore(keys, kc.value);
    if (!done.ok) return done;
    const keyIds: number[] = [];
    for (let i = 0; i < keys.length; i++) keyIds.push(keys[i].id);
    return ok({ keyIds });
  } finally {
    plain.fill(0);
    for (let i = 0; i < secrets.length; i++) secrets[i].fill(0);
  }
}
