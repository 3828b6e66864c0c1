// `tinyhsm ssh-ca sign` against the real OpenSSH programs (docs/ssh.md "Certificates"): ssh-keygen -L reads what a device key signed, and sshd lets a certificate in only within its validity and for its principals.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsmClient } from '../../host/client.ts';
import { parseCertificate, parsePublicKeyLine, verifySshSignature, DEFAULT_USER_EXTENSIONS } from '../../host/ssh.ts';
import { SIM_PIN_ENV, SIM_USER_PIN, runCli, type SimProcess } from '../helpers/sim.ts';
import { USER, opensshSkip, run, sshOptions, sshWorkspace, type Sshd } from '../helpers/openssh.ts';

const { skip, reason } = opensshSkip();

describe.skipIf(skip)(skip ? `ssh-ca with OpenSSH: skipped, ${reason}` : 'ssh-ca with OpenSSH', () => {
  let dir: string;
  let sim: SimProcess;
  let sshd: Sshd;
  const ca: { [alg: string]: { keyId: number; line: string } } = {};
  let x25519: number;
  const user: { [type: string]: string } = {};

  const cli = (args: string[]) => runCli([...args, '--device', sim.device], SIM_PIN_ENV);
  /** ssh as USER with the private key file and the certificate beside it, no agent. */
  const login = (key: string, cert: string) =>
    run('ssh', [...sshOptions(sshd, ['-o', 'IdentityAgent=none', '-o', `IdentityFile=${key}`, '-o', `CertificateFile=${cert}`]), 'echo', 'ok'], {
      env: { ...process.env, SSH_AUTH_SOCK: '' },
    });

  beforeAll(async () => {
    // only in CI do the tests get here without the programs: fail, saying what is missing
    if (reason) throw new Error(reason);
    let sshdReady: Promise<Sshd>;
    ({ dir, sim, sshd: sshdReady } = await sshWorkspace('tinyhsm-ssh-ca-'));
    const c = await HsmClient.open(sim.device, { knownDevices: null, closeOnExit: false });
    try {
      await c.login('user', SIM_USER_PIN);
      ca.ed25519 = { keyId: (await c.generateKey('ed25519', 'ssh-ca-ed25519')).keyId, line: '' };
      ca.p256 = { keyId: (await c.generateKey('ecdsa-p256', 'ssh-ca-p256')).keyId, line: '' };
      x25519 = (await c.generateKey('x25519', 'not-a-ca')).keyId;
    } finally {
      await c.close();
    }
    // sshd trusts both CAs, by the lines `tinyhsm pubkey --format ssh` prints
    for (const k of Object.values(ca)) {
      const r = await runCli(['pubkey', '--key', String(k.keyId), '--format', 'ssh', '--device', sim.device, '--trust'], SIM_PIN_ENV);
      expect(r.code, r.stderr).toBe(0);
      k.line = r.stdout.trim();
    }
    // the users' own keys, made by ssh-keygen; sshd's authorized_keys stays empty: only a certificate lets them in
    for (const [type, args] of [
      ['ed25519', ['-t', 'ed25519']],
      ['p256', ['-t', 'ecdsa', '-b', '256']],
    ] as const) {
      user[type] = join(dir, `user_${type}`);
      const r = await run('ssh-keygen', ['-q', ...args, '-N', '', '-C', `alice-${type}`, '-f', user[type]]);
      expect(r.code, r.stderr).toBe(0);
    }
    sshd = await sshdReady;
    writeFileSync(sshd.trustedCa, ca.ed25519.line + '\n' + ca.p256.line + '\n');
  }, 60_000);

  afterAll(async () => {
    if (sshd) await sshd.stop();
    if (sim) await sim.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const [caName, userType, certType, caText] of [
    ['ed25519', 'ed25519', 'ssh-ed25519-cert-v01@openssh.com', 'ED25519'],
    ['p256', 'p256', 'ecdsa-sha2-nistp256-cert-v01@openssh.com', 'ECDSA'],
  ] as const) {
    it(`a ${caName} CA on the device certifies a ${userType} key: ssh-keygen -L reads it and sshd lets it in`, async () => {
      const r = await cli([
        'ssh-ca',
        'sign',
        '--key',
        String(ca[caName].keyId),
        '--pub',
        user[userType] + '.pub',
        '-I',
        `alice@${caName}`,
        '-n',
        `${USER},backup`,
        // ssh-keygen's spelling with a space, and the attached one
        ...(caName === 'ed25519' ? ['-V', '-5m:+1h'] : ['--validity=-5m:+1h']),
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      const certFile = user[userType] + '-cert.pub'; // beside the key, as ssh-keygen names it
      expect(out.file).toBe(certFile);
      expect(out.certType).toBe(certType);
      const line = readFileSync(certFile, 'utf8');
      expect(line).toMatch(new RegExp(`^${certType} \\S+ alice-${userType}\\n$`));

      const l = await run('ssh-keygen', ['-L', '-f', certFile]);
      expect(l.code, l.stderr).toBe(0);
      expect(l.stdout).toContain(`Type: ${certType} user certificate`);
      expect(l.stdout).toContain(`Signing CA: ${caText} ${out.ca.fingerprint}`);
      expect(l.stdout).toContain(`Key ID: "alice@${caName}"`);
      expect(l.stdout).toContain(`Serial: ${out.serial}`);
      expect(l.stdout).toMatch(new RegExp(`Principals: \\n\\s+${USER}\\n\\s+backup\\n`));
      expect(l.stdout).toMatch(/Critical Options: \(none\)/);
      for (const e of DEFAULT_USER_EXTENSIONS) expect(l.stdout).toMatch(new RegExp(`\\n\\s+${e}\\n`));
      // the window: five minutes back to one hour ahead
      const cert = parseCertificate(parsePublicKeyLine(line).blob);
      const now = BigInt(Math.floor(Date.now() / 1000));
      expect(Number(now - cert.validAfter)).toBeGreaterThanOrEqual(299);
      expect(Number(now - cert.validAfter)).toBeLessThan(330);
      expect(Number(cert.validBefore - now)).toBeGreaterThan(3570);
      expect(cert.nonce).toHaveLength(32);
      expect(verifySshSignature(cert.caKey, cert.signature, cert.signed)).toBe('verified');

      const ok = await login(user[userType], certFile);
      expect(ok.code, `${ok.stderr}\n${sshd.log().slice(-2000)}`).toBe(0);
      expect(ok.stdout.trim()).toBe('ok');
      // without the certificate the same key is refused: the certificate is what let it in
      const bare = await run('ssh', [
        ...sshOptions(sshd, ['-o', 'IdentityAgent=none', '-o', `IdentityFile=${user[userType]}`, '-o', 'CertificateFile=/dev/null']),
        'echo',
        'ok',
      ]);
      expect(bare.code).not.toBe(0);
    });
  }

  it('an expired certificate is refused by sshd', async () => {
    const out = join(dir, 'expired-cert.pub');
    const r = await cli([
      'ssh-ca',
      'sign',
      '--key',
      String(ca.ed25519.keyId),
      '--pub',
      user.ed25519 + '.pub',
      '-I',
      'expired',
      '-n',
      USER,
      '-V',
      '20200101:20200102',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect((await run('ssh-keygen', ['-L', '-f', out])).stdout).toMatch(/Valid: from 2020-01-01T00:00:00 to 2020-01-02T00:00:00/);
    const from = sshd.log().length;
    const refused = await login(user.ed25519, out);
    expect(refused.code).not.toBe(0);
    expect(sshd.log().slice(from)).toMatch(/Certificate invalid: expired/);
  });

  it('a certificate for principal X does not log in as Y', async () => {
    const out = join(dir, 'other-cert.pub');
    const r = await cli([
      'ssh-ca',
      'sign',
      '--key',
      String(ca.p256.keyId),
      '--pub',
      user.p256 + '.pub',
      '-I',
      'not-you',
      '-n',
      'someone-else',
      '-V',
      '+1h',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const from = sshd.log().length;
    const refused = await login(user.p256, out);
    expect(refused.code).not.toBe(0);
    expect(sshd.log().slice(from)).toMatch(/Certificate invalid: name is not a listed principal/);
  });

  it('--host makes a host certificate without extensions; --serial and --out are kept; `always` has no limits', async () => {
    const out = join(dir, 'host-cert.pub');
    const r = await cli([
      'ssh-ca',
      'sign',
      '--key',
      String(ca.ed25519.keyId),
      '--pub',
      user.p256 + '.pub',
      '-I',
      'host1',
      '-n',
      'host1.example,10.0.0.1',
      '-V',
      'always',
      '--host',
      '--serial',
      '12345',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Signed host key .*host-cert\.pub: id "host1" serial 12345 for host1\.example,10\.0\.0\.1 valid from always to forever/);
    const l = await run('ssh-keygen', ['-L', '-f', out]);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toContain('Type: ecdsa-sha2-nistp256-cert-v01@openssh.com host certificate');
    expect(l.stdout).toContain('Serial: 12345');
    expect(l.stdout).toContain('Valid: forever');
    expect(l.stdout).toMatch(/Extensions: \(none\)/);
  });

  it('refuses what it cannot certify, with a usage error and no file', async () => {
    const pub = user.ed25519 + '.pub';
    const base = ['ssh-ca', 'sign', '--pub', pub, '-I', 'x', '-n', USER, '-V', '+1h'];
    const cases: [string[], RegExp][] = [
      [['ssh-ca', 'sign', '--key', String(ca.ed25519.keyId), '--pub', pub, '-I', 'x', '-V', '+1h'], /-n PRINCIPALS/],
      [[...base, '--key', String(x25519), '--out', join(dir, 'no1')], /not an Ed25519 or P-256 key/],
      [[...base.slice(0, -1), '+5x', '--key', String(ca.ed25519.keyId), '--out', join(dir, 'no2')], /-V: validity end "\+5x"/],
      [[...base, '--key', String(ca.ed25519.keyId), '--serial', '-1', '--out', join(dir, 'no3')], /--serial/],
      [
        [
          'ssh-ca',
          'sign',
          '--key',
          String(ca.ed25519.keyId),
          '--pub',
          join(dir, 'expired-cert.pub'),
          '-I',
          'x',
          '-n',
          USER,
          '-V',
          '+1h',
          '--out',
          join(dir, 'no4'),
        ],
        /is a certificate/,
      ],
      [
        ['ssh-ca', 'sign', '--key', String(ca.ed25519.keyId), '--pub', join(dir, 'sshd_config'), '-I', 'x', '-n', USER, '-V', '+1h', '--out', join(dir, 'no5')],
        /not an OpenSSH public key line/,
      ],
      [['ssh-ca', 'pubkey', '--key', '1'], /tinyhsm pubkey --key ID --format ssh/],
    ];
    for (const [args, msg] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(' ') + '\n' + r.stderr).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
    for (const n of [1, 2, 3, 4, 5]) expect(existsSync(join(dir, `no${n}`))).toBe(false);
    // a file it cannot read is a failed operation (exit 1), not a usage mistake
    const missing = await cli(['ssh-ca', 'sign', '--key', String(ca.ed25519.keyId), '--pub', join(dir, 'absent.pub'), '-I', 'x', '-n', USER, '-V', '+1h']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read --pub .*absent\.pub: no such file/);
  });
});
