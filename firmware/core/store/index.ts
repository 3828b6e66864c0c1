// The flash record store's public face (docs/storage.md): the Store, its types and the record key table.
export { Store, RESERVE_BYTES, MIN_PAGE_SIZE, type Entry, type StoreStats } from './store.ts';
export { RecordKind, recordKey, kindOf, indexOf, isSecretKind, isUserKey, FIRST_RESERVED_KIND, COMMIT_MARKER_KEY } from './record_keys.ts';
