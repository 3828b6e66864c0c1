// OpenSSH through p11-kit-client.so against `tinyhsm pkcs11` (docs/pkcs11.md §2): ssh-keygen -D lists the device key without a login (the public-object cache), ssh -I logs in with it, ssh-keygen -s … -D signs a user certificate with it, and sshd lets that certificate in.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { P11_CLIENT, p11Workspace, type P11Workspace } from '../helpers/pkcs11.ts';
import { USER, opensshSkip, run, sshOptions, startSshd, type Sshd } from '../helpers/openssh.ts';
import { SIM_USER_PIN } from '../helpers/sim.ts';

const { skip, reason } = opensshSkip();

describe.skipIf(skip)(skip ? `pkcs11 with OpenSSH: skipped, ${reason}` : 'pkcs11 with OpenSSH', () => {
  let w: P11Workspace;
  let sshd: Sshd;
  let caLine: string;

  beforeAll(async () => {
    if (reason) throw new Error(reason);
    // sshd reads the CA and key files in the directory: open it for reading, as sshWorkspace does
    w = await p11Workspace('tinyhsm-p11ssh-', { dirMode: 0o755 });
    const sshdReady = startSshd(w.dir);
    sshdReady.catch(() => {});
    const gen = await w.tool(['--login', '--pin', SIM_USER_PIN, '--keypairgen', '--key-type', 'EC:prime256v1', '--id', '5c', '--label', 'ssh-ca']);
    expect(gen.code, gen.stderr).toBe(0);
    sshd = await sshdReady;
  }, 60_000);

  afterAll(async () => {
    if (sshd) await sshd.stop();
    if (w) await w.close();
  });

  it('ssh-keygen -D lists the device key before any login, from the cache C_GenerateKeyPair wrote', async () => {
    const r = await run('ssh-keygen', ['-D', P11_CLIENT], { env: w.env });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ecdsa-sha2-nistp256 AAAA[A-Za-z0-9+/=]+ ssh-ca$/);
    caLine = lines[0];
    // the same key pkcs11-tool reads, as an SPKI: ssh-keygen's line and it name one point
    const pub = await w.tool(['--read-object', '--type', 'pubkey', '--id', '5c', '-o', join(w.dir, 'ca.der')]);
    expect(pub.code, pub.stderr).toBe(0);
    const der = readFileSync(join(w.dir, 'ca.der'));
    const blob = Buffer.from(caLine.split(' ')[1], 'base64');
    expect(blob.subarray(blob.length - 65).equals(der.subarray(der.length - 65))).toBe(true);
  });

  it('ssh -I logs in with the device key itself (the PIN from SSH_ASKPASS)', async () => {
    writeFileSync(sshd.authorizedKeys, caLine + '\n');
    const askpass = join(w.dir, 'askpass.sh');
    writeFileSync(askpass, `#!/bin/sh\necho '${SIM_USER_PIN}'\n`, { mode: 0o700 });
    const env = { ...w.env, SSH_AUTH_SOCK: '', SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' };
    // ssh asks for the PIN: BatchMode off (the first value of an option wins, so it is replaced, not appended)
    const ssh = (extra: string[]) =>
      run(
        'ssh',
        sshOptions(sshd, ['-o', 'IdentityAgent=none', ...extra])
          .map((o) => (o === 'BatchMode=yes' ? 'BatchMode=no' : o))
          .concat(['echo', 'in']),
        { env },
      );
    // IdentitiesOnly (sshOptions) offers a PKCS#11 key only when its public key is named as an IdentityFile
    writeFileSync(join(w.dir, 'device.pub'), caLine + '\n');
    const ok = await ssh(['-I', P11_CLIENT, '-o', `IdentityFile=${join(w.dir, 'device.pub')}`]);
    expect(ok.stdout.trim(), ok.stderr + sshd.log()).toBe('in');
    // without the device key, the same sshd refuses
    writeFileSync(sshd.authorizedKeys, '');
    const no = await ssh(['-I', P11_CLIENT, '-o', `IdentityFile=${join(w.dir, 'device.pub')}`]);
    expect(no.code).not.toBe(0);
  });

  it('ssh-keygen -s ca.pub -D signs a user certificate that sshd accepts for a login', async () => {
    writeFileSync(join(w.dir, 'ca.pub'), caLine + '\n');
    writeFileSync(sshd.trustedCa, caLine + '\n');
    const key = join(w.dir, 'user_ed25519');
    const k = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', key]);
    expect(k.code, k.stderr).toBe(0);
    const s = await run(
      'ssh-keygen',
      ['-s', join(w.dir, 'ca.pub'), '-D', P11_CLIENT, '-P', SIM_USER_PIN, '-I', 'alice@pkcs11', '-n', USER, '-V', '-5m:+1h', key + '.pub'],
      {
        env: w.env,
      },
    );
    expect(s.code, s.stderr).toBe(0);
    const cert = readFileSync(key + '-cert.pub', 'utf8');
    expect(cert).toMatch(/^ssh-ed25519-cert-v01@openssh\.com /);
    const l = await run('ssh-keygen', ['-L', '-f', key + '-cert.pub']);
    expect(l.stdout).toContain('Signing CA: ECDSA SHA256:');
    expect(l.stdout).toContain('Key ID: "alice@pkcs11"');
    const ok = await run(
      'ssh',
      [...sshOptions(sshd, ['-o', 'IdentityAgent=none', '-o', `IdentityFile=${key}`, '-o', `CertificateFile=${key}-cert.pub`]), 'echo', 'in'],
      {
        env: { ...process.env, SSH_AUTH_SOCK: '' },
      },
    );
    expect(ok.stdout.trim(), ok.stderr + sshd.log()).toBe('in');
    expect(sshd.log()).toContain('ID alice@pkcs11');
    // the negative side: sshd no longer trusting this CA refuses the same certificate
    writeFileSync(sshd.trustedCa, '');
    const no = await run(
      'ssh',
      [...sshOptions(sshd, ['-o', 'IdentityAgent=none', '-o', `IdentityFile=${key}`, '-o', `CertificateFile=${key}-cert.pub`]), 'echo', 'in'],
      {
        env: { ...process.env, SSH_AUTH_SOCK: '' },
      },
    );
    expect(no.code).not.toBe(0);
  });
});
