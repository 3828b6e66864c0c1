// `tinyhsm ca init|sign|csr` on a simulated token, checked by the real OpenSSL: strict chain verification for P-256, Ed25519 and secp256k1 CAs, CSR self-signatures, a TLS handshake to a server whose certificate the device issued, and the refusals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { HsmClient, caInit, caSign, csr } from '../../host/index.ts';
import { SIM_LOGIN, SIM_PIN_ENV, runCli, spawnSim, type SimProcess } from '../helpers/sim.ts';

let sim: SimProcess;
let dir: string;
const keys = { p256: '', ed25519: '', k256: '', x25519: '' };
/** HsmClient on the simulator, for the library calls (the socket takes one client at a time: close it before the CLI runs). */
const open = () => HsmClient.open(sim.device, { knownDevices: null, closeOnExit: false, login: SIM_LOGIN });
const children: ChildProcess[] = [];

const file = (name: string) => join(dir, name);

/** Run the CLI against this file's simulator (pinned on first use with --trust, in the helpers' known-devices file). */
async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli([...args, '--device', sim.device, '--trust'], SIM_PIN_ENV);
}

async function cliOk(args: string[]): Promise<string> {
  const r = await cli(args);
  expect(r.stderr, r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

function openssl(args: string[], input?: string): { code: number; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8', input, timeout: 20_000 });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

/** DER as PEM lines of 64 characters (RFC 7468 §2), with no empty line, which OpenSSL refuses. */
const pemBody = (der: Buffer) =>
  der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n');

/** `openssl verify -x509_strict` of `leaf` against the single trusted `ca`. */
const strictVerify = (ca: string, leaf: string) => openssl(['verify', '-x509_strict', '-CAfile', ca, leaf]);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tinyhsm-x509-'));
  sim = await spawnSim(['--socket', join(dir, 'sim.sock')]);
  const c = await open();
  try {
    for (const [name, alg] of [
      ['p256', 'ecdsa-p256'],
      ['ed25519', 'ed25519'],
      ['k256', 'ecdsa-secp256k1'],
      ['x25519', 'x25519'],
    ] as const) {
      keys[name] = String((await c.generateKey(alg, name)).keyId);
    }
  } finally {
    await c.close();
  }
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sim?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('tinyhsm ca: chains that OpenSSL verifies strictly', () => {
  it('P-256: a CA whose extensions RFC 5280 asks for, a device CSR that `openssl req -verify` accepts, and a leaf that `openssl verify -x509_strict` accepts', async () => {
    await cliOk(['ca', 'init', '--key', keys.p256, '--subject', 'CN=tinyhsm test root, O=tinyhsm', '--days', '30', '--out', file('p256-ca.pem')]);
    const ca = new X509Certificate(readFileSync(file('p256-ca.pem')));
    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe('CN=tinyhsm test root\nO=tinyhsm');
    expect(ca.checkIssued(ca)).toBe(true);
    // 16 bytes, top bit clear, first byte non-zero: a positive INTEGER of exactly 16 octets
    expect(ca.serialNumber).toMatch(/^[1-7][0-9A-F]{31}$|^0[1-9A-F][0-9A-F]{30}$/);
    const text = openssl(['x509', '-in', file('p256-ca.pem'), '-noout', '-text']).out;
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    const skid = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(text)![1];
    expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
    expect(Math.round((Date.parse(ca.validTo) - Date.parse(ca.validFrom)) / 86_400_000)).toBe(30);

    await cliOk(['ca', 'csr', '--key', keys.p256, '--subject', 'CN=device.example', '--dns', 'device.example', '--out', file('p256.csr')]);
    expect(openssl(['req', '-verify', '-noout', '-in', file('p256.csr')]).out).toContain('verify OK');

    await cliOk([
      'ca',
      'sign',
      '--key',
      keys.p256,
      '--ca',
      file('p256-ca.pem'),
      '--csr',
      file('p256.csr'),
      '--dns',
      'device.example',
      '--ip',
      '192.0.2.7',
      '--client',
      '--days',
      '7',
      '--out',
      file('p256-leaf.pem'),
    ]);
    expect(strictVerify(file('p256-ca.pem'), file('p256-leaf.pem'))).toEqual({ code: 0, out: `${file('p256-leaf.pem')}: OK\n` });
    const leafText = openssl(['x509', '-in', file('p256-leaf.pem'), '-noout', '-text']).out;
    expect(leafText).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(leafText).toMatch(/Key Usage: critical\s+Digital Signature, Key Agreement\n/);
    expect(leafText).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication\n/);
    expect(leafText).toMatch(/Subject Alternative Name:\s+DNS:device.example, IP Address:192.0.2.7\n/);
    expect(leafText).toMatch(new RegExp(`Authority Key Identifier:\\s+(keyid:)?${skid}`));
    const leaf = new X509Certificate(readFileSync(file('p256-leaf.pem')));
    expect(leaf.subject).toBe('CN=device.example');
    expect(leaf.serialNumber).not.toBe(ca.serialNumber);
  });

  it('Ed25519 (RFC 8410): CA, device CSR and leaf verify; the leaf of a public key given as PEM gets the subject asked for', async () => {
    await cliOk(['ca', 'init', '--key', keys.ed25519, '--subject', 'CN=ed25519 root', '--path-len', '0', '--out', file('ed-ca.pem')]);
    expect(openssl(['x509', '-in', file('ed-ca.pem'), '-noout', '-text']).out).toMatch(/Signature Algorithm: ED25519[\s\S]*CA:TRUE, pathlen:0/);
    await cliOk(['ca', 'csr', '--key', keys.ed25519, '--subject', 'CN=ed leaf', '--out', file('ed.csr')]);
    expect(openssl(['req', '-verify', '-noout', '-in', file('ed.csr')]).out).toContain('verify OK');
    await cliOk(['ca', 'sign', '--key', keys.ed25519, '--ca', file('ed-ca.pem'), '--csr', file('ed.csr'), '--out', file('ed-leaf.pem')]);
    expect(strictVerify(file('ed-ca.pem'), file('ed-leaf.pem')).code).toBe(0);

    // a bare public key (here X25519, which only agrees keys: RFC 8410 §5 keyUsage keyAgreement alone)
    expect(openssl(['genpkey', '-algorithm', 'X25519', '-out', file('x.key')]).code).toBe(0);
    expect(openssl(['pkey', '-in', file('x.key'), '-pubout', '-out', file('x.pub')]).code).toBe(0);
    await cliOk([
      'ca',
      'sign',
      '--key',
      keys.ed25519,
      '--ca',
      file('ed-ca.pem'),
      '--pub',
      file('x.pub'),
      '--subject',
      'CN=x25519 peer',
      '--out',
      file('x.pem'),
    ]);
    expect(strictVerify(file('ed-ca.pem'), file('x.pem')).code).toBe(0);
    const x = openssl(['x509', '-in', file('x.pem'), '-noout', '-text', '-nameopt', 'RFC2253']).out;
    expect(x).toMatch(/Subject: CN=x25519 peer/);
    expect(x).toMatch(/Key Usage: critical\s+Key Agreement\n/);
  });

  it('secp256k1, through the driver API: OpenSSL verifies an ecdsa-with-SHA256 chain on the curve strictly', async () => {
    const c = await open();
    try {
      const k = Number(keys.k256);
      writeFileSync(file('k-ca.pem'), (await caInit(c, k, { subject: 'CN=secp256k1 root' })).toString('pem'));
      const request = await csr(c, k, { subject: 'CN=k leaf', dns: ['k.example'] });
      writeFileSync(file('k.csr'), request.toString('pem'));
      const leaf = await caSign(c, k, {
        ca: readFileSync(file('k-ca.pem'), 'utf8'),
        csr: request.toString('pem'),
        dns: ['k.example'],
        serverAuth: true,
        clientAuth: true,
      });
      writeFileSync(file('k-leaf.pem'), leaf.toString('pem'));
    } finally {
      await c.close();
    }
    expect(openssl(['req', '-verify', '-noout', '-in', file('k.csr')]).out).toContain('verify OK');
    expect(strictVerify(file('k-ca.pem'), file('k-leaf.pem')).code).toBe(0);
    const text = openssl(['x509', '-in', file('k-leaf.pem'), '-noout', '-text']).out;
    expect(text).toMatch(/ASN1 OID: secp256k1[\s\S]*TLS Web Server Authentication, TLS Web Client Authentication[\s\S]*Signature Algorithm: ecdsa-with-SHA256/);
  });
});

/** A TCP port nobody listens on now. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
  const port = (s.address() as { port: number }).port;
  await new Promise((res) => s.close(res));
  return port;
}

describe('tinyhsm ca: a TLS server whose certificate the device issued', () => {
  it('openssl s_client verifies the chain to the device CA: Verify return code: 0 (ok)', async () => {
    // the server's key is OpenSSL's own (a TLS server needs its key at hand); the CA that certifies it is the device's
    expect(openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file('srv.key')]).code).toBe(0);
    expect(openssl(['req', '-new', '-key', file('srv.key'), '-subj', '/CN=localhost', '-out', file('srv.csr')]).code).toBe(0);
    await cliOk([
      'ca',
      'sign',
      '--key',
      keys.p256,
      '--ca',
      file('p256-ca.pem'),
      '--csr',
      file('srv.csr'),
      '--dns',
      'localhost',
      '--ip',
      '127.0.0.1',
      '--server',
      '--days',
      '7',
      '--out',
      file('srv.pem'),
    ]);

    const port = await freePort();
    const server = spawn('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', file('srv.pem'), '-key', file('srv.key'), '-naccept', '1', '-www'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(server);
    try {
      await new Promise<void>((res, rej) => {
        createInterface({ input: server.stdout! }).on('line', (l) => l.startsWith('ACCEPT') && res());
        server.once('exit', (c) => rej(new Error('s_server exited ' + c)));
      });
      const client = spawnSync(
        'openssl',
        [
          's_client',
          '-connect',
          `127.0.0.1:${port}`,
          '-verify_return_error',
          '-CAfile',
          file('p256-ca.pem'),
          '-verify_hostname',
          'localhost',
          '-servername',
          'localhost',
        ],
        { encoding: 'utf8', input: '', timeout: 15_000 },
      );
      expect(client.stdout).toContain('Verify return code: 0 (ok)');
      expect(client.stdout).toMatch(/issuer=CN ?= ?tinyhsm test root/);
      // the same handshake against another CA fails: the check above is not vacuous
      const other = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-verify_return_error', '-CAfile', file('ed-ca.pem')], {
        encoding: 'utf8',
        input: '',
        timeout: 15_000,
      });
      expect(other.stdout + other.stderr).not.toContain('Verify return code: 0 (ok)');
    } finally {
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
    }
  });
});

describe('tinyhsm ca: refusals', () => {
  it('a tampered certificate fails openssl verify', () => {
    const der = Buffer.from(
      readFileSync(file('p256-leaf.pem'), 'utf8')
        .replace(/-----[^-]+-----/g, '')
        .replace(/\s/g, ''),
      'base64',
    );
    // flip one bit in the subject's common name, inside the signed part
    const at = der.indexOf(Buffer.from('device.example'));
    expect(at).toBeGreaterThan(0);
    der[at] ^= 0x01;
    writeFileSync(file('tampered.pem'), `-----BEGIN CERTIFICATE-----\n${pemBody(der)}\n-----END CERTIFICATE-----\n`);
    const r = strictVerify(file('p256-ca.pem'), file('tampered.pem'));
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/signature failure/);
  });

  it('a CSR whose signature fails is refused and nothing is written', async () => {
    const pem = readFileSync(file('srv.csr'), 'utf8');
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
    der[der.indexOf(Buffer.from('localhost'))] ^= 0x01; // "mocalhost": the requester's signature no longer covers it
    writeFileSync(file('bad.csr'), `-----BEGIN CERTIFICATE REQUEST-----\n${pemBody(der)}\n-----END CERTIFICATE REQUEST-----\n`);
    // OpenSSL 3.0's `req -verify` exits 0 either way: its words tell
    expect(openssl(['req', '-verify', '-noout', '-in', file('bad.csr')]).out).toContain('verify failure');
    const r = await cli(['ca', 'sign', '--key', keys.p256, '--ca', file('p256-ca.pem'), '--csr', file('bad.csr'), '--out', file('bad.pem')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("the CSR's signature does not verify");
    expect(existsSync(file('bad.pem'))).toBe(false);
  });

  it('refuses an unreadable CSR, a CA certificate of another key or of no CA, a leaf that would outlive its CA, a key that cannot sign, bad names', async () => {
    writeFileSync(file('junk.csr'), '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n');
    const ca = readFileSync(file('p256-ca.pem'), 'utf8');
    const request = readFileSync(file('srv.csr'), 'utf8');
    const p256 = Number(keys.p256);
    const c = await open();
    try {
      const cases: [() => Promise<unknown>, RegExp][] = [
        [() => caSign(c, p256, { ca, csr: readFileSync(file('junk.csr'), 'utf8') }), /unreadable CSR/],
        [() => caSign(c, p256, { ca, csr: 'not a request' }), /unreadable CSR/],
        [() => caSign(c, p256, { ca, csr: new Uint8Array(readFileSync(file('bad.csr'))) }), /the CSR's signature does not verify/],
        [() => caSign(c, Number(keys.ed25519), { ca, csr: request }), /public key is not device key \d+'s/],
        [() => caSign(c, p256, { ca, csr: request, days: 31 }), /would outlive its CA[\s\S]*--days 29 or fewer/],
        [() => caSign(c, p256, { ca: readFileSync(file('p256-leaf.pem'), 'utf8'), csr: request }), /"CN=device.example" is not a CA certificate/],
        [() => caSign(c, p256, { ca, publicKey: request, subject: 'CN=x' }), /unreadable public key/],
        [() => caInit(c, Number(keys.x25519), { subject: 'CN=x' }), /x25519, which does not sign/],
        [() => csr(c, p256, { subject: 'CN=x', dns: ['not a name'] }), /"not a name" is not a DNS name/],
        [() => csr(c, p256, { subject: 'CN=x', ip: ['300.1.2.3'] }), /"300.1.2.3" is not an IP address/],
        [() => caInit(c, p256, { subject: 'garbage' }), /not a distinguished name/],
        [() => caInit(c, p256, { subject: 'CN=x', days: 0 }), /validity of 0 days/],
      ];
      for (const [call, words] of cases) {
        const e = await call().then(
          () => new Error('no refusal'),
          (x: Error) => x,
        );
        expect(e.message).toMatch(words);
        expect(e.name).toBe('HsmError');
      }
    } finally {
      await c.close();
    }
    // the CLI: the same refusal as a usage mistake (exit 2: the file is not what --ca takes for this key), and a missing flag
    const other = await cli(['ca', 'sign', '--key', keys.ed25519, '--ca', file('p256-ca.pem'), '--csr', file('srv.csr')]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/^tinyhsm ca: the CA certificate's public key is not device key \d+'s \(pass the --key/);
    const usage = await cli(['ca', 'sign', '--key', keys.p256, '--ca', file('p256-ca.pem')]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('exactly one of --csr FILE');
  });
});
