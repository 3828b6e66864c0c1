// PIN and master-key primitives for keys at rest (DESIGN.md "At rest"): PIN records, master-key wrap, encrypted key records.
export * from './pin.ts';
export * from './records.ts';
