// JSON Web Tokens signed on the device: compact JWS (RFC 7515 §7.1) with ES256, ES256K or EdDSA, the algorithm following the key's (docs/x509.md §5).
import { createHash } from 'node:crypto';
import { ALG_NAMES, Alg } from '../firmware/protocol/index.ts';
import type { HsmClient } from './client.ts';
import { HsmError } from './errors.ts';

export type JwsAlgorithm = 'ES256' | 'ES256K' | 'EdDSA';

/**
 * The JWS "alg" of each device algorithm that signs: ES256 = ECDSA P-256 with SHA-256 (RFC 7518 §3.4), ES256K = ECDSA
 * secp256k1 with SHA-256 (RFC 8812 §3.2), EdDSA = Ed25519 (RFC 8037 §3.1). All three signatures are what the device
 * returns: raw r‖s (32 + 32 bytes; RFC 7518 §3.4 wants exactly that, not DER) or the 64-byte Ed25519 signature.
 */
export const JWS_ALGORITHM: { readonly [alg: number]: JwsAlgorithm } = {
  [Alg.ECDSA_P256]: 'ES256',
  [Alg.ECDSA_SECP256K1]: 'ES256K',
  [Alg.ED25519]: 'EdDSA',
};

export interface SignJwtOptions {
  /** The alg the caller expects; refused unless it is the key's (a token must not claim another algorithm). */
  alg?: string;
  /** More JOSE header parameters (e.g. typ, cty, x5t#S256); "alg" and "kid" come from the key and `kid`. */
  header?: { [name: string]: unknown };
  /** The "kid" header parameter (RFC 7515 §4.1.4). */
  kid?: string;
}

const b64u = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');

function badArgument(detail: string, hint: string): HsmError {
  return new HsmError('BAD_ARGUMENT', detail, { hint });
}

/**
 * A compact JWS over `payload` (a JWT claims set, RFC 7519 §7.1) signed by device key `keyId`: BASE64URL(header) "."
 * BASE64URL(payload) "." BASE64URL(signature). The header is {"alg", "typ": "JWT", "kid"?} plus `header`.
 * ECDSA keys sign SHA-256 of the signing input, sent to the device as a digest; Ed25519 signs the input itself.
 */
export async function signJwt(client: HsmClient, keyId: number, payload: { [claim: string]: unknown }, opts: SignJwtOptions = {}): Promise<string> {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload))
    throw badArgument('a JWT payload is a JSON object of claims', 'give an object such as {"sub": "alice", "aud": "api"} (RFC 7519 §4)');
  const { alg: keyAlg } = await client.publicKey(keyId);
  const alg = JWS_ALGORITHM[keyAlg];
  if (alg === undefined)
    throw badArgument(
      `key ${keyId} is ${ALG_NAMES[keyAlg] ?? keyAlg}, which does not sign JWTs`,
      'use an ecdsa-p256 (ES256), ecdsa-secp256k1 (ES256K) or ed25519 (EdDSA) key',
    );
  for (const [what, asked] of [
    ['the alg option', opts.alg],
    ['the header\'s "alg"', opts.header?.alg],
  ] as const) {
    if (asked !== undefined && asked !== alg)
      throw badArgument(
        `${what} is ${JSON.stringify(asked)} but key ${keyId} is ${ALG_NAMES[keyAlg]}, which signs ${alg}`,
        `ask for ${alg}, or use a key of the algorithm you want`,
      );
  }
  if (opts.kid !== undefined && opts.header?.kid !== undefined && opts.header.kid !== opts.kid)
    throw badArgument('two different "kid" values given', 'give the key id once, as kid or in the header');
  const header = { alg, typ: 'JWT', ...opts.header, ...(opts.kid !== undefined ? { kid: opts.kid } : {}) };
  const signingInput = b64u(JSON.stringify(header)) + '.' + b64u(JSON.stringify(payload));
  const input = new TextEncoder().encode(signingInput);
  const signature =
    alg === 'EdDSA'
      ? await client.sign(keyId, { message: input })
      : await client.sign(keyId, { digest: new Uint8Array(createHash('sha256').update(input).digest()) });
  return signingInput + '.' + b64u(signature);
}
