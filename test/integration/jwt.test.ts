// JWTs signed on a simulated token, checked by independent verifiers: jose's jwtVerify for ES256 and EdDSA, node:crypto for ES256K (raw r‖s, ieee-p1363); a changed payload, a mismatching alg and a key that cannot sign are refused; `tinyhsm jwt sign` end to end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verify as nodeVerify, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { HsmClient, signJwt } from '../../host/index.ts';
import { SIM_LOGIN, SIM_PIN_ENV, nodePublicKey, runCli, spawnSim, startInProcess, type InProcessHandle, type SimProcess } from '../helpers/sim.ts';

let h: InProcessHandle;
const keys: { [name in 'p256' | 'k256' | 'ed25519' | 'x25519']: { id: number; pub: KeyObject | undefined } } = {
  p256: { id: 0, pub: undefined },
  k256: { id: 0, pub: undefined },
  ed25519: { id: 0, pub: undefined },
  x25519: { id: 0, pub: undefined },
};

beforeAll(async () => {
  h = await startInProcess();
  for (const [name, alg] of [
    ['p256', 'ecdsa-p256'],
    ['k256', 'ecdsa-secp256k1'],
    ['ed25519', 'ed25519'],
    ['x25519', 'x25519'],
  ] as const) {
    const k = await h.client.generateKey(alg, name);
    keys[name] = { id: k.keyId, pub: alg === 'x25519' ? undefined : nodePublicKey(alg, k.publicKey) };
  }
});

afterAll(async () => {
  expect(h.sim.deviceFaults).toEqual([]);
  await h.close();
});

const parts = (token: string) => token.split('.');
const json = (b64: string) => JSON.parse(Buffer.from(b64, 'base64url').toString('utf8'));

/** A token whose payload was replaced after signing, the header and signature kept. */
function withPayload(token: string, payload: object): string {
  const [header, , sig] = parts(token);
  return `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${sig}`;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  const r = await p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  if (!r) throw new Error('expected a rejection');
  return r;
}

describe('signJwt on device keys', () => {
  it('ES256 (P-256): jose jwtVerify accepts it with the header asked for, and refuses it once the payload changed', async () => {
    const claims = { sub: 'alice', aud: 'api.example', exp: Math.floor(Date.now() / 1000) + 300 };
    const token = await signJwt(h.client, keys.p256.id, claims, { kid: 'ci-2026', header: { cty: 'claims' } });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', typ: 'JWT', cty: 'claims', kid: 'ci-2026' });
    expect(Buffer.from(parts(token)[2], 'base64url').length).toBe(64); // raw r‖s, RFC 7518 §3.4
    const { payload, protectedHeader } = await jwtVerify(token, keys.p256.pub!, { algorithms: ['ES256'], audience: 'api.example' });
    expect(payload).toEqual(claims);
    expect(protectedHeader.alg).toBe('ES256');
    const forged = withPayload(token, { ...claims, sub: 'mallory' });
    expect((await rejection(jwtVerify(forged, keys.p256.pub!))).name).toBe('JWSSignatureVerificationFailed');
  });

  it('EdDSA (Ed25519, RFC 8037): jose jwtVerify accepts it, and refuses a changed payload', async () => {
    const token = await signJwt(h.client, keys.ed25519.id, { sub: 'bob', scope: ['read'] }, { alg: 'EdDSA' });
    expect(json(parts(token)[0])).toEqual({ alg: 'EdDSA', typ: 'JWT' });
    const { payload } = await jwtVerify(token, keys.ed25519.pub!, { algorithms: ['EdDSA'] });
    expect(payload).toEqual({ sub: 'bob', scope: ['read'] });
    expect((await rejection(jwtVerify(withPayload(token, { sub: 'bob', scope: ['write'] }), keys.ed25519.pub!))).name).toBe('JWSSignatureVerificationFailed');
  });

  it('ES256K (secp256k1, RFC 8812): node:crypto verifies the raw r‖s signature over the signing input (ieee-p1363)', async () => {
    const token = await signJwt(h.client, keys.k256.id, { sub: 'carol' });
    const [header, payload, sig] = parts(token);
    expect(json(header).alg).toBe('ES256K');
    const verify = (input: string) =>
      nodeVerify('sha256', Buffer.from(input), { key: keys.k256.pub!, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url'));
    expect(verify(`${header}.${payload}`)).toBe(true);
    expect(verify(`${header}.${Buffer.from('{"sub":"dave"}').toString('base64url')}`)).toBe(false);
    // the device returns low-S signatures (docs/protocol.md SIGN): s ≤ n/2 on secp256k1
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const s = BigInt('0x' + Buffer.from(sig, 'base64url').subarray(32).toString('hex'));
    expect(s <= n / 2n).toBe(true);
  });

  it('refuses an alg that is not the key’s, a key that does not sign, and a payload that is no JSON object', async () => {
    const cases: [Promise<unknown>, RegExp][] = [
      [signJwt(h.client, keys.p256.id, { sub: 'x' }, { alg: 'EdDSA' }), /the alg option is "EdDSA" but key \d+ is ecdsa-p256, which signs ES256/],
      [signJwt(h.client, keys.ed25519.id, { sub: 'x' }, { alg: 'ES256' }), /is ed25519, which signs EdDSA/],
      [signJwt(h.client, keys.k256.id, { sub: 'x' }, { header: { alg: 'ES256' } }), /header's "alg" is "ES256"/],
      [signJwt(h.client, keys.k256.id, { sub: 'x' }, { header: { alg: 'none' } }), /header's "alg" is "none"/],
      [signJwt(h.client, keys.x25519.id, { sub: 'x' }), /x25519, which does not sign JWTs/],
      [signJwt(h.client, keys.p256.id, ['not', 'claims'] as never), /JSON object of claims/],
    ];
    for (const [p, words] of cases) expect((await rejection(p)).message).toMatch(words);
  });
});

describe('tinyhsm jwt sign', () => {
  let sim: SimProcess;
  let dir: string;
  let id: number;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tinyhsm-jwt-'));
    sim = await spawnSim(['--socket', join(dir, 'sim.sock')]);
    const c = await HsmClient.open(sim.device, { knownDevices: null, closeOnExit: false, login: SIM_LOGIN });
    try {
      id = (await c.generateKey('ecdsa-p256', 'jwt')).keyId;
      const { publicKey } = await c.publicKey(id);
      keys.p256.pub = nodePublicKey('ecdsa-p256', publicKey);
    } finally {
      await c.close();
    }
  });
  afterAll(async () => {
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints a token jose accepts, with --kid in the header and --exp seconds from now', async () => {
    writeFileSync(join(dir, 'claims.json'), JSON.stringify({ sub: 'deploy-bot', aud: 'registry' }));
    const before = Math.floor(Date.now() / 1000);
    const r = await runCli(
      ['jwt', 'sign', '--key', String(id), '--payload-file', join(dir, 'claims.json'), '--kid', 'k1', '--exp', '600', '--device', sim.device, '--trust'],
      SIM_PIN_ENV,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const token = r.stdout.trim();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const { payload, protectedHeader } = await jwtVerify(token, keys.p256.pub!, { audience: 'registry' });
    expect(protectedHeader).toEqual({ alg: 'ES256', typ: 'JWT', kid: 'k1' });
    expect(payload.sub).toBe('deploy-bot');
    expect(payload.exp! - payload.iat!).toBe(600);
    expect(payload.iat!).toBeGreaterThanOrEqual(before);
    const bad = await runCli(['jwt', 'sign', '--key', String(id), '--payload', '[1,2]', '--device', sim.device, '--trust'], SIM_PIN_ENV);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('JSON object of claims');
  });
});
