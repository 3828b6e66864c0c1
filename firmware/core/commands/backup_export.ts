// BACKUP_EXPORT: the named keys (each allowing export-under-wrap) with their policies and origins, sealed under a key derived from the domain's wrap key (docs/quorum.md §9.1).
import { Capability, Command, Status } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import { cborEncode, type CborValue } from '../../protocol/cbor.ts';
import { concatBytes } from '../../protocol/bytes.ts';
import { type BackupExportRequest, type BackupExportResponse, BackupExportRequestSchema } from '../../protocol/commands/backup_export.ts';
import { BACKUP_VERSION, MAX_BACKUP_KEYS, backupKey } from '../../protocol/commands/domain.ts';
import type { DeviceContext } from '../context.ts';
import { type KeyRecord, keyCrypto } from '../keystore.ts';
import { PRIVATE_KEY_LENGTH } from '../records.ts';

export function backupExport(ctx: DeviceContext, req: BackupExportRequest): Result<BackupExportResponse> {
  const { env, officers, domain, keystore, deviceId } = ctx;
  const { keyIds } = req;
  if (!domain.present) return err(Status.OPERATION_NOT_PERMITTED, Reason.NO_DOMAIN, [Command.BACKUP_EXPORT]);
  if (keyIds.length === 0) return err(Status.INVALID_PARAMETER, Reason.LENGTH_OUT_OF_RANGE, [1, 0, 1, MAX_BACKUP_KEYS]);
  const recs: KeyRecord[] = [];
  for (let i = 0; i < keyIds.length; i++) {
    const id = keyIds[i];
    if (keyIds.indexOf(id) !== i) return err(Status.INVALID_PARAMETER, Reason.KEY_REPEATED, [id]);
    const rec = keystore.get(id);
    if (rec === undefined) return err(Status.KEY_NOT_FOUND, Reason.KEY_NOT_FOUND, [id]);
    if ((rec.policy.capabilities & Capability.EXPORT_WRAPPED) === 0) return err(Status.POLICY_DENIED, Reason.NOT_EXPORTABLE, [id]);
    recs.push(rec);
  }
  const approved = officers.check(env.crypto, deviceId, Command.BACKUP_EXPORT, BackupExportRequestSchema, req);
  if (!approved.ok) return approved;
  const kc = keyCrypto(ctx);
  if (!kc.ok) return kc;
  const wrap = domain.open(kc.value, Command.BACKUP_EXPORT);
  if (!wrap.ok) return wrap;
  // the plaintext (docs/quorum.md §9.1): source device id ‖ count ‖ per key: length ‖ clear CBOR map ‖ private key;
  // each private key is copied once, into `plain`, which is wiped (a CBOR writer would leave copies in a JS array)
  const clear: Uint8Array[] = [];
  let length = deviceId.length + 1;
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i];
    const m = new Map<number, CborValue>();
    m.set(1, r.id);
    m.set(2, r.alg);
    m.set(3, r.label);
    m.set(4, r.origin);
    m.set(5, r.policy.capabilities);
    m.set(6, r.policy.sensitive);
    m.set(7, r.policy.touch);
    if (r.policy.protected === true) m.set(8, true);
    clear.push(cborEncode(m));
    length += 1 + clear[i].length + PRIVATE_KEY_LENGTH;
  }
  const plain = new Uint8Array(length);
  let k: Uint8Array | undefined;
  try {
    plain.set(deviceId, 0);
    let o = deviceId.length;
    plain[o++] = recs.length;
    for (let i = 0; i < recs.length; i++) {
      const sk = keystore.privateKeyOf(recs[i], kc.value);
      if (!sk.ok) return sk;
      plain[o++] = clear[i].length;
      plain.set(clear[i], o);
      o += clear[i].length;
      plain.set(sk.value, o);
      o += PRIVATE_KEY_LENGTH;
    }
    const domainId = domain.id as Uint8Array;
    const header = concatBytes(new Uint8Array([BACKUP_VERSION]), domainId, new Uint8Array(12));
    const nonce = header.subarray(1 + domainId.length);
    env.rng.fill(nonce);
    k = backupKey(env.crypto, wrap.value, domainId);
    const blob = concatBytes(header, env.crypto.aeadSeal(k, nonce, plain, header));
    return ok({ blob });
  } finally {
    plain.fill(0);
    wrap.value.fill(0);
    if (k !== undefined) k.fill(0);
  }
}
