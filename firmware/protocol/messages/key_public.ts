// KEY_PUBLIC: one key's algorithm and public key.
import type { Schema } from '../schema.ts';
import { MAX_KEY_ID, MAX_PUBLIC_KEY, MIN_PUBLIC_KEY } from './limits.ts';

export interface KeyPublicRequest {
  keyId: number;
}
export const KeyPublicRequestSchema: Schema = [{ key: 1, name: 'keyId', type: { t: 'uint', min: 1, max: MAX_KEY_ID } }];

export interface KeyPublicResponse {
  alg: number;
  publicKey: Uint8Array;
}
export const KeyPublicResponseSchema: Schema = [
  { key: 1, name: 'alg', type: { t: 'uint', max: 255 } },
  { key: 2, name: 'publicKey', type: { t: 'bytes', min: MIN_PUBLIC_KEY, max: MAX_PUBLIC_KEY } },
];
