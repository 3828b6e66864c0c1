// PIN and master-key primitives for keys at rest (docs/session.md §8): PIN records, master-key wrap, encrypted key records.
export * from './pin.ts';
export * from './key_seal.ts';
