// The secure session, device side (docs/session.md): byte layouts, one session's handshake and envelopes, the session table.
export * from './layout.ts';
export * from './session.ts';
export * from './table.ts';
