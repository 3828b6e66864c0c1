// Test views of a flash image through the store: its records apart from the audit log's, and the audit log's entries.
import { Store, RecordKind, recordKey } from '../../firmware/core/store/index.ts';
import { FRESHNESS_RECORD } from '../../firmware/core/records.ts';
import { readBe } from '../../firmware/core/audit.ts';
import { NorFlash } from './nor-flash.ts';

interface Imaged {
  snapshot(): Uint8Array;
  readonly pageSize: number;
}

function storeOf(flash: Imaged): Store {
  return Store.open(NorFlash.fromBytes(flash.snapshot(), { pageSize: flash.pageSize }));
}

/**
 * Every record of the store but the audit log's (its entries and state) and the rollback binding's counter, as
 * "key=hex" lines: what "a refused request changes nothing" compares, since the refusal itself is recorded.
 */
export function storeState(flash: Imaged): string {
  const s = storeOf(flash);
  const lines: string[] = [];
  for (const kind of Object.values(RecordKind)) {
    if (kind === RecordKind.AUDIT || kind === RecordKind.AUDIT_STATE) continue;
    for (const key of s.list(kind)) if (key !== FRESHNESS_RECORD) lines.push(key.toString(16) + '=' + Buffer.from(s.get(key) ?? []).toString('hex'));
  }
  return lines.join('\n');
}

/** The audit log's entries held in the image, oldest first (docs/audit.md §2). */
export function auditEntries(flash: Imaged): Uint8Array[] {
  const s = storeOf(flash);
  const out: Uint8Array[] = [];
  for (const key of s.list(RecordKind.AUDIT)) {
    const v = s.get(key);
    if (v !== undefined && v.length === 80) out.push(v);
  }
  return out.sort((a, b) => readBe(a, 0, 4) - readBe(b, 0, 4));
}

/** The number of audit entries ever written, as the image says (the newest index + 1). */
export function auditNext(flash: Imaged): number {
  const e = auditEntries(flash);
  return e.length === 0 ? 0 : readBe(e[e.length - 1], 0, 4) + 1;
}
