// OpenSSL 3 with libp11's pkcs11 engine through p11-kit-client.so against `tinyhsm pkcs11` (docs/pkcs11.md §2): a self-signed CA made with `openssl req -x509`, a leaf signed with `openssl x509 -req -CAkeyform engine`, and `openssl verify -x509_strict` accepting the chain; --ecdsa-only for libp11 0.4.12.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsmClient } from '../../host/client.ts';
import { openTransport } from '../../host/open-device.ts';
import { Pkcs11Server } from '../../host/pkcs11/server.ts';
import { P11_CLIENT, p11Workspace, type P11Workspace } from '../helpers/pkcs11.ts';
import { run } from '../helpers/openssh.ts';
import { SIM_USER_PIN } from '../helpers/sim.ts';

let w: P11Workspace;
const f = (name: string) => join(w.dir, name);
/** libp11 takes its module from PKCS11_MODULE_PATH; p11-kit-client.so takes the server from P11_KIT_SERVER_ADDRESS. */
const engineEnv = (socket: string) => ({ ...process.env, PKCS11_MODULE_PATH: P11_CLIENT, P11_KIT_SERVER_ADDRESS: `unix:path=${socket}` });
const CA_URI = `pkcs11:token=test;object=root-ca;type=private?pin-value=${SIM_USER_PIN}`;

beforeAll(async () => {
  w = await p11Workspace('tinyhsm-p11ssl-');
  const gen = await w.tool(['--login', '--pin', SIM_USER_PIN, '--keypairgen', '--key-type', 'EC:prime256v1', '--id', 'ca01', '--label', 'root-ca']);
  expect(gen.code, gen.stderr).toBe(0);
  writeFileSync(
    f('ext.cnf'),
    [
      '[ca]',
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid:always',
      '[leaf]',
      'basicConstraints = critical, CA:FALSE',
      'keyUsage = critical, digitalSignature',
      'extendedKeyUsage = serverAuth',
      'subjectAltName = DNS:leaf.example',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid:always',
      '',
    ].join('\n'),
  );
}, 60_000);
afterAll(async () => {
  await w?.close();
});

/** A CA certificate signed by the device key through the engine, then a leaf; returns `openssl verify`'s result. */
async function caAndLeaf(socket: string, tag: string): Promise<{ req: string; sign: string; verify: string }> {
  const env = engineEnv(socket);
  const req = await run(
    'openssl',
    [
      'req',
      '-new',
      '-x509',
      '-engine',
      'pkcs11',
      '-keyform',
      'engine',
      '-key',
      CA_URI,
      '-sha256',
      '-days',
      '30',
      '-subj',
      '/CN=tinyhsm test CA',
      '-config',
      f('ext.cnf'),
      '-extensions',
      'ca',
      '-out',
      f(`ca-${tag}.pem`),
    ],
    { env, timeoutMs: 30_000 },
  );
  if (req.code !== 0) return { req: req.stderr, sign: '', verify: '' };
  await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f('leaf.key')]);
  await run('openssl', ['req', '-new', '-key', f('leaf.key'), '-subj', '/CN=leaf.example', '-out', f('leaf.csr')]);
  const sign = await run(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      f('leaf.csr'),
      '-engine',
      'pkcs11',
      '-CAkeyform',
      'engine',
      '-CAkey',
      CA_URI,
      '-CA',
      f(`ca-${tag}.pem`),
      '-set_serial',
      '7',
      '-sha256',
      '-days',
      '10',
      '-extfile',
      f('ext.cnf'),
      '-extensions',
      'leaf',
      '-out',
      f(`leaf-${tag}.pem`),
    ],
    { env, timeoutMs: 30_000 },
  );
  if (sign.code !== 0) return { req: '', sign: sign.stderr, verify: '' };
  const v = await run('openssl', ['verify', '-x509_strict', '-CAfile', f(`ca-${tag}.pem`), f(`leaf-${tag}.pem`)]);
  return { req: '', sign: '', verify: v.stdout + v.stderr };
}

describe('OpenSSL with the pkcs11 engine via p11-kit-client.so', () => {
  it('req -x509 makes a CA with the device key, x509 -req signs a leaf, verify -x509_strict accepts the chain', async () => {
    const r = await caAndLeaf(w.socket, 'a');
    expect(r.req + r.sign).toBe('');
    expect(r.verify.trim()).toBe(`${f('leaf-a.pem')}: OK`);
    // the CA's public key is the device key's
    const pub = await w.tool(['--read-object', '--type', 'pubkey', '--id', 'ca01', '-o', f('ca.der')]);
    expect(pub.code).toBe(0);
    const spki = await run('openssl', ['x509', '-in', f('ca-a.pem'), '-noout', '-pubkey']);
    const der = await run('openssl', ['pkey', '-pubin', '-inform', 'DER', '-in', f('ca.der')]);
    expect(spki.stdout).toBe(der.stdout);
    // the negative side: a leaf changed after signing fails verification
    const pem = readFileSync(f('leaf-a.pem'), 'utf8').split('\n');
    const body = Buffer.from(pem.slice(1, -2).join(''), 'base64');
    body[body.length - 80] ^= 1;
    writeFileSync(f('leaf-bad.pem'), `-----BEGIN CERTIFICATE-----\n${body.toString('base64')}\n-----END CERTIFICATE-----\n`);
    const bad = await run('openssl', ['verify', '-x509_strict', '-CAfile', f('ca-a.pem'), f('leaf-bad.pem')]);
    expect(bad.code).not.toBe(0);
  });

  it('with an Ed25519 key on the token too, libp11 0.4.12 needs --ecdsa-only to find the ECDSA key', async () => {
    const c = await HsmClient.open(w.sim.device, { knownDevices: null, closeOnExit: false });
    await c.login('user', SIM_USER_PIN);
    await c.generateKey('ed25519', 'some-ed25519-key');
    await c.close();
    const without = await caAndLeaf(w.socket, 'b');
    expect(without.req).toContain('Unable to enumerate private keys');
    // the second server on the same simulator hides the Ed25519 objects
    const only = new Pkcs11Server({ openLink: () => openTransport(w.sim.device), clientOptions: { trust: true }, ecdsaOnly: true, cachePath: null });
    await only.listen(f('ecdsa-only.sock'));
    try {
      const r = await caAndLeaf(f('ecdsa-only.sock'), 'c');
      expect(r.req + r.sign).toBe('');
      expect(r.verify.trim()).toBe(`${f('leaf-c.pem')}: OK`);
    } finally {
      await only.close();
    }
  });
});
