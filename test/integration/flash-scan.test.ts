// Keys at rest (docs/security.md §5): the raw NOR image after generating and importing keys holds none of their private key bytes, and the keys still work after a reboot (they are sealed, not lost).
import { describe, it, expect } from 'vitest';
import { createECDH, createPrivateKey, createPublicKey } from 'node:crypto';
import { Alg, Capability, Command, Status } from '../../firmware/protocol/codes.ts';
import { NorFlash, leftover } from '../helpers/nor-flash.ts';
import { checkKeysWork, hex, listKeys, startTestDevice, unhex } from '../helpers/loopback.ts';

const PKCS8_PREFIX: Record<number, string> = {
  [Alg.ED25519]: '302e020100300506032b657004220420',
  [Alg.X25519]: '302e020100300506032b656e04220420',
};

/** The public key OpenSSL derives from a 32-byte private key of `alg` (undefined when it is not a valid one). */
function publicOf(alg: number, sk: Uint8Array): string | undefined {
  try {
    if (alg === Alg.ED25519 || alg === Alg.X25519) {
      const priv = createPrivateKey({ key: Buffer.concat([Buffer.from(PKCS8_PREFIX[alg], 'hex'), sk]), format: 'der', type: 'pkcs8' });
      return createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(12).toString('hex');
    }
    const ecdh = createECDH(alg === Alg.ECDSA_P256 ? 'prime256v1' : 'secp256k1');
    ecdh.setPrivateKey(Buffer.from(sk));
    return ecdh.getPublicKey().toString('hex');
  } catch {
    return undefined;
  }
}

describe('flash scan after KEY_GENERATE and KEY_IMPORT', () => {
  it('no 8-byte run of any generated or imported private key is in the raw image; every public key is', () => {
    const flash = new NorFlash({ pageSize: 4096, pageCount: 8 });
    const t = startTestDevice({ flash, seed: 'flash scan' });
    // Everything the device draws from its RNG from now on (INIT's master key, the generated keys, nonces): the
    // generated private keys are found in it below by their public keys, with OpenSSL as the judge.
    const drawn: Uint8Array[] = [];
    const rng = t.link.env.rng;
    const fill = rng.fill.bind(rng);
    (rng as { fill: (b: Uint8Array) => void }).fill = (b: Uint8Array) => {
      fill(b);
      drawn.push(b.slice());
    };

    const generated: { alg: number; publicKey: string }[] = [];
    for (const alg of [Alg.ED25519, Alg.ECDSA_P256, Alg.ECDSA_SECP256K1, Alg.X25519, Alg.ED25519]) {
      const r = t.call(Command.KEY_GENERATE, {
        1: alg,
        2: 'gen ' + alg,
        ...(generated.length === 0 ? { 3: Capability.SIGN | Capability.EXPORT_WRAPPED } : {}),
      });
      expect(r.status, r.message).toBe(Status.OK);
      generated.push({ alg, publicKey: hex(r.map.get(2) as Uint8Array) });
    }
    const imported = [
      [Alg.ED25519, unhex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f61')],
      [Alg.ECDSA_P256, unhex('c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721')],
      [Alg.ECDSA_SECP256K1, unhex('0101010101010101010101010101010101010101010101010101010101010102')],
      [Alg.X25519, unhex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2b')],
    ] as const;
    for (const [alg, sk] of imported) {
      const r = t.call(Command.KEY_IMPORT, { 1: alg, 3: sk.slice(), ...(alg === Alg.ECDSA_P256 ? { 4: Capability.SIGN | Capability.DERIVE } : {}) });
      expect(r.status, r.message).toBe(Status.OK);
    }
    // a policy change rewrites a record: the new one is sealed as well
    const p = t.call(Command.KEY_SET_POLICY, { 1: 1, 2: Capability.SIGN });
    expect(p.status, p.message).toBe(Status.OK);

    const secrets: Uint8Array[] = imported.map(([, sk]) => sk);
    for (const g of generated) {
      const sk = drawn.find((b) => b.length === 32 && publicOf(g.alg, b) === g.publicKey);
      expect(sk, 'the private key of generated ' + g.publicKey + ' was drawn from the RNG').toBeDefined();
      secrets.push(sk as Uint8Array);
    }
    expect(secrets.length).toBe(9);
    const image = flash.snapshot();
    for (const sk of secrets) expect(leftover(image, sk), 'private key ' + hex(sk) + ' is in flash').toBe(-1);
    // positive control: the scan reads the right bytes, since every public key (clear metadata) is found in them
    for (const k of listKeys(t)) expect(leftover(image, unhex(k.publicKey)), 'public key of key ' + k.keyId).toBeGreaterThanOrEqual(0);

    // reboot on the same flash: the keys load sealed, open after LOGIN and work (OpenSSL verifies)
    const t2 = startTestDevice({ flash, seed: 'flash scan reboot' });
    const keys = listKeys(t2);
    expect(keys.length).toBe(9);
    expect(checkKeysWork(t2, keys, 'after reboot')).toEqual([]);
    for (const sk of secrets) expect(leftover(flash.snapshot(), sk)).toBe(-1);
  });
});
