// The wire contract shared by firmware and host: framing, CBOR codec, code tables and message schemas.
export * from './codes.ts';
export * from './result.ts';
export * from './reasons.ts';
export * from './bytes.ts';
export * from './cbor.ts';
export * from './cobs.ts';
export * from './crc32.ts';
export * from './base64.ts';
export * from './frame.ts';
export * from './schema.ts';
export * from './commands/index.ts';
