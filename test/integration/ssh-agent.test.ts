// `tinyhsm ssh-agent` against the real OpenSSH programs (docs/ssh.md): ssh-add lists and test-signs, ssh logs in to a throwaway sshd (also through ssh -A), ssh-keygen -Y signs, and the agent refuses what it must (locked, unknown key, malformed, a bad session-bind, a busy button).
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, sign as nodeSign, randomBytes, createHash, type KeyObject } from 'node:crypto';
import { existsSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsmClient } from '../../host/client.ts';
import { InProcessTransport } from '../../host/transports/inprocess.ts';
import { SshAgent } from '../../host/ssh-agent.ts';
import { AgentMessage, SshReader, SshWriter, devicePublicKeyBlob, verifySshSignature } from '../../host/ssh.ts';
import { Alg } from '../../firmware/protocol/index.ts';
import { SIM_PIN_ENV, SIM_USER_PIN, cliCommand, nodeBundle, runCli, startInProcess, type SimProcess } from '../helpers/sim.ts';
import { AgentConnection, agentRequest, opensshSkip, run, sshOptions, sshWorkspace, type Sshd } from '../helpers/openssh.ts';

const { skip, reason } = opensshSkip();

interface DeviceKey {
  keyId: number;
  alg: number;
  publicKey: Uint8Array;
  label: string;
  /** `tinyhsm pubkey --key ID --format ssh` */
  sshLine?: string;
  pubFile?: string;
}

/** An Ed25519 or raw-PEM key pair made here, with its SSH blob, to play a host key in a session-bind. */
function hostKey(type: 'ed25519' | 'p256'): { blob: Uint8Array; sign(data: Uint8Array): Uint8Array } {
  if (type === 'ed25519') {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
    return {
      blob: devicePublicKeyBlob(Alg.ED25519, raw),
      sign: (d) =>
        new SshWriter()
          .string('ssh-ed25519')
          .string(nodeSign(null, d, privateKey))
          .bytes(),
    };
  }
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const raw = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x as string, 'base64url'), Buffer.from(jwk.y as string, 'base64url')]);
  return {
    blob: devicePublicKeyBlob(Alg.ECDSA_P256, raw),
    sign: (d) => {
      const rs = nodeSign('sha256', d, { key: privateKey as KeyObject, dsaEncoding: 'ieee-p1363' });
      const inner = new SshWriter().mpintUnsigned(rs.subarray(0, 32)).mpintUnsigned(rs.subarray(32)).bytes();
      return new SshWriter().string('ecdsa-sha2-nistp256').string(inner).bytes();
    },
  };
}

function sessionBind(hostKeyBlob: Uint8Array, sessionId: Uint8Array, signature: Uint8Array, forwarding: boolean): Uint8Array {
  return new SshWriter()
    .byte(AgentMessage.EXTENSION)
    .string('session-bind@openssh.com')
    .string(hostKeyBlob)
    .string(sessionId)
    .string(signature)
    .bool(forwarding)
    .bytes();
}

function signRequest(blob: Uint8Array, data: Uint8Array, flags = 0): Uint8Array {
  return new SshWriter().byte(AgentMessage.SIGN_REQUEST).string(blob).string(data).uint32(flags).bytes();
}

/** The signature blob of a SIGN_RESPONSE (type 14), or undefined for anything else. */
function signatureOf(answer: Buffer | undefined): Uint8Array | undefined {
  if (!answer || answer[0] !== AgentMessage.SIGN_RESPONSE) return undefined;
  const r = new SshReader(answer.subarray(1));
  const sig = r.string();
  r.end();
  return sig;
}

/** The key blobs and comments of an IDENTITIES_ANSWER. */
function identitiesOf(answer: Buffer | undefined): { blob: Buffer; comment: string }[] {
  expect(answer?.[0]).toBe(AgentMessage.IDENTITIES_ANSWER);
  const r = new SshReader(answer!.subarray(1));
  const n = r.uint32();
  const out = [];
  for (let i = 0; i < n; i++) out.push({ blob: Buffer.from(r.string()), comment: r.text() });
  r.end();
  return out;
}

const REQUEST_IDENTITIES = Uint8Array.of(AgentMessage.REQUEST_IDENTITIES);

describe.skipIf(skip)(skip ? `ssh-agent with OpenSSH: skipped, ${reason}` : 'ssh-agent with OpenSSH', () => {
  let dir: string;
  let sim: SimProcess;
  let sshd: Sshd;
  let agent: ChildProcess;
  let agentLog = '';
  let sock: string;
  let agentPid: number;
  let firstLines: string[];
  const keys: { [name: string]: DeviceKey } = {};
  let envAgent: NodeJS.ProcessEnv;

  /** Wait until the agent's log (stderr) matches `re` after position `from`. */
  async function logged(re: RegExp, from = 0, ms = 10_000): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const m = re.exec(agentLog.slice(from));
      if (m) return m[0];
      if (Date.now() > end) throw new Error(`agent log never matched ${re}:\n${agentLog.slice(from)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  beforeAll(async () => {
    // only in CI do the tests get here without the programs: fail, saying what is missing
    if (reason) throw new Error(reason);
    let sshdReady: Promise<Sshd>;
    ({ dir, sim, sshd: sshdReady } = await sshWorkspace('tinyhsm-ssh-agent-'));
    // the keys: two that sign (one of each curve), one without a label, one that needs a press, and two the agent must not list
    const c = await HsmClient.open(sim.device, { knownDevices: null, closeOnExit: false });
    try {
      await c.login('user', SIM_USER_PIN);
      const make = async (name: string, alg: string, label: string, policy: { capabilities?: string[]; touch?: boolean } = {}) => {
        const { keyId, publicKey } = await c.generateKey(alg, label, policy);
        keys[name] = { keyId, alg: alg === 'ed25519' ? Alg.ED25519 : alg === 'ecdsa-p256' ? Alg.ECDSA_P256 : Alg.X25519, publicKey, label };
      };
      await make('ed', 'ed25519', 'ssh-ed');
      await make('p256', 'ecdsa-p256', 'ssh-p256');
      await make('nolabel', 'ed25519', '');
      await make('touch', 'ed25519', 'ssh-touch', { touch: true });
      await make('x25519', 'x25519', 'not-ssh');
      await make('deriveOnly', 'ecdsa-p256', 'derive-only', { capabilities: ['derive'] });
    } finally {
      await c.close();
    }
    // what `tinyhsm pubkey --format ssh` says for each key the agent should list (before the agent holds the device)
    for (const name of ['ed', 'p256', 'nolabel', 'touch']) {
      const r = await runCli(['pubkey', '--key', String(keys[name].keyId), '--format', 'ssh', '--device', sim.device, '--trust'], SIM_PIN_ENV);
      expect(r.code, r.stderr).toBe(0);
      keys[name].sshLine = r.stdout.trim();
      keys[name].pubFile = join(dir, `${name}.pub`);
      writeFileSync(keys[name].pubFile!, r.stdout);
    }
    sshd = await sshdReady;
    writeFileSync(sshd.authorizedKeys, keys.ed.sshLine + '\n' + keys.p256.sshLine + '\n');
    // the agent in the foreground, as `tinyhsm ssh-agent --foreground` runs it
    sock = join(dir, 'agent.sock');
    const cli = await cliCommand();
    agent = spawn(process.execPath, [...cli, 'ssh-agent', '--foreground', '-a', sock, '--idle', '30', '--device', sim.device], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...SIM_PIN_ENV, TINYHSM_BUNDLE: await nodeBundle() },
    });
    agent.stderr!.on('data', (d: Buffer) => (agentLog += d.toString()));
    const rl = createInterface({ input: agent.stdout! });
    firstLines = await new Promise<string[]>((resolve, reject) => {
      const lines: string[] = [];
      rl.on('line', (l) => {
        lines.push(l);
        if (lines.length === 3) resolve(lines);
      });
      agent.once('exit', (code) => reject(new Error(`ssh-agent exited (${code}): ${agentLog}`)));
    });
    agentPid = agent.pid!;
    envAgent = { ...process.env, SSH_AUTH_SOCK: sock };
  }, 60_000);

  afterAll(async () => {
    if (agent && agent.exitCode === null) {
      agent.kill('SIGTERM');
      await new Promise((r) => agent.once('exit', r));
    }
    if (sshd) await sshd.stop();
    if (sim) await sim.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prints the lines eval takes, as ssh-agent does, and serves an owner-only socket', () => {
    expect(firstLines).toEqual([
      `SSH_AUTH_SOCK=${sock}; export SSH_AUTH_SOCK;`,
      `SSH_AGENT_PID=${agentPid}; export SSH_AGENT_PID;`,
      `echo Agent pid ${agentPid};`,
    ]);
    expect(statSync(sock).mode & 0o777).toBe(0o600);
  });

  it('ssh-add -L lists exactly the signing Ed25519 and P-256 keys, each as `tinyhsm pubkey --format ssh` has it', async () => {
    const r = await run('ssh-add', ['-L'], { env: envAgent });
    expect(r.code, r.stderr).toBe(0);
    const listed = r.stdout.trim().split('\n');
    const expected = ['ed', 'p256', 'nolabel', 'touch'].map((n) => keys[n]);
    expect(listed).toHaveLength(expected.length);
    // line for line what `tinyhsm pubkey --format ssh` prints: the key, and as comment its label or "tinyhsm key N"
    expect(listed.sort()).toEqual(expected.map((k) => k.sshLine).sort());
    expect(listed).toContain(`${keys.nolabel.sshLine!.split(' ').slice(0, 2).join(' ')} tinyhsm key ${keys.nolabel.keyId}`);
  });

  it('ssh-add -T test-signs with the Ed25519 and the P-256 key', async () => {
    for (const name of ['ed', 'p256', 'nolabel']) {
      const r = await run('ssh-add', ['-T', keys[name].pubFile!], { env: envAgent });
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
    }
  });

  it('ssh logs in to sshd through the agent with the Ed25519 key and with the P-256 key, and binds each session to a verified host key', async () => {
    const cases: [string, string][] = [
      ['ed', 'ssh-ed25519'],
      ['p256', 'ecdsa-sha2-nistp256'],
      ['ed', 'rsa-sha2-512'],
    ];
    for (const [name, hostAlg] of cases) {
      const from = agentLog.length;
      const r = await run(
        'ssh',
        [...sshOptions(sshd, ['-o', `IdentityAgent=${sock}`, '-o', `IdentityFile=${keys[name].pubFile}`, '-o', `HostKeyAlgorithms=${hostAlg}`]), 'echo', 'ok'],
        {
          env: { ...process.env, SSH_AUTH_SOCK: '' },
        },
      );
      expect(r.code, `${name} via ${hostAlg}: ${r.stderr}\n${sshd.log().slice(-2000)}`).toBe(0);
      expect(r.stdout.trim()).toBe('ok');
      const hostType = hostAlg.startsWith('rsa') ? 'ssh-rsa' : hostAlg;
      await logged(new RegExp(`session-bind to host key SHA256:\\S+ \\(${hostType}\\), signature verified, for authentication`), from);
      await logged(new RegExp(`signed \\d+ bytes with key ${keys[name].keyId} `), from);
    }
  });

  it('ssh -A: the first hop runs ssh to the second through the forwarded agent', async () => {
    const from = agentLog.length;
    const inner = ['ssh', ...sshOptions(sshd, ['-o', `IdentityFile=${keys.ed.pubFile}`]), 'echo', 'hop-ok'];
    const r = await run('ssh', [...sshOptions(sshd, ['-A', '-o', `IdentityFile=${keys.p256.pubFile}`]), inner.map((a) => `'${a}'`).join(' ')], {
      env: envAgent,
    });
    expect(r.code, `${r.stderr}\n${sshd.log().slice(-2000)}`).toBe(0);
    expect(r.stdout.trim()).toBe('hop-ok');
    // the forwarded connection was bound for forwarding first, then for the inner authentication
    await logged(/signature verified, for forwarding[\s\S]*signature verified, for authentication/, from);
    await logged(new RegExp(`signed \\d+ bytes with key ${keys.ed.keyId} `), from);
  });

  it('ssh-keygen -Y sign uses the agent for a public key file, and -Y verify accepts the signature', async () => {
    for (const name of ['ed', 'p256']) {
      const msg = join(dir, `message-${name}`);
      writeFileSync(msg, `a file signed with the ${name} key\n`);
      const s = await run('ssh-keygen', ['-Y', 'sign', '-f', keys[name].pubFile!, '-n', 'file', msg], { env: envAgent });
      expect(s.code, s.stderr).toBe(0);
      const allowed = join(dir, `allowed-${name}`);
      writeFileSync(allowed, `signer@example ${keys[name].sshLine!.split(' ').slice(0, 2).join(' ')}\n`);
      const v = await run('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'signer@example', '-n', 'file', '-s', msg + '.sig'], {
        input: readFileSync(msg, 'utf8'),
      });
      expect(v.code, v.stderr).toBe(0);
      expect(v.stdout).toMatch(/Good "file" signature for signer@example/);
      // the same signature over other bytes is refused: the check can fail
      const bad = await run('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'signer@example', '-n', 'file', '-s', msg + '.sig'], {
        input: 'other bytes\n',
      });
      expect(bad.code).not.toBe(0);
    }
  });

  it('signs SIGN_REQUESTs in the SSH signature format, ignoring the RSA hash flags for these key types', async () => {
    const data = randomBytes(200);
    for (const name of ['ed', 'p256']) {
      const blob = devicePublicKeyBlob(keys[name].alg, keys[name].publicKey);
      for (const flags of [0, 2, 4]) {
        const sig = signatureOf(await agentRequest(sock, signRequest(blob, data, flags)));
        expect(sig, `${name} flags ${flags}`).toBeDefined();
        expect(verifySshSignature(blob, sig!, data)).toBe('verified');
        expect(verifySshSignature(blob, sig!, Buffer.concat([data, Buffer.of(0)]))).toBe('bad');
      }
    }
    // ecdsa-sha2-nistp256 is ECDSA over SHA-256 of the data (RFC 5656 §6.2.1): the host hashes, so data far larger than
    // a device packet signs too; Ed25519 over the whole of it (HsmClient.sign streams what does not fit in a packet)
    for (const [name, size] of [
      ['p256', 64 * 1024],
      ['ed', 16 * 1024],
    ] as const) {
      const big = randomBytes(size);
      const blob = devicePublicKeyBlob(keys[name].alg, keys[name].publicKey);
      const sig = signatureOf(await agentRequest(sock, signRequest(blob, big)));
      expect(sig, name).toBeDefined();
      expect(verifySshSignature(blob, sig!, big)).toBe('verified');
    }
  });

  it('refuses a key it does not hold, keys it does not list, and requests to add or remove keys', async () => {
    const stranger = hostKey('ed25519').blob;
    expect(await agentRequest(sock, signRequest(stranger, randomBytes(32)))).toEqual(Buffer.of(AgentMessage.FAILURE));
    const x = new SshWriter().string('ssh-ed25519').string(keys.x25519.publicKey).bytes(); // the X25519 key dressed as Ed25519
    expect(await agentRequest(sock, signRequest(x, randomBytes(32)))).toEqual(Buffer.of(AgentMessage.FAILURE));
    for (const type of [AgentMessage.ADD_IDENTITY, AgentMessage.REMOVE_IDENTITY, AgentMessage.REMOVE_ALL_IDENTITIES, AgentMessage.ADD_SMARTCARD_KEY, 1, 200]) {
      expect(await agentRequest(sock, Uint8Array.of(type, 0, 0, 0, 0)), `type ${type}`).toEqual(Buffer.of(AgentMessage.FAILURE));
    }
    const d = await run('ssh-add', ['-D'], { env: envAgent });
    expect(d.code).not.toBe(0);
    expect((await run('ssh-add', ['-L'], { env: envAgent })).stdout.trim().split('\n')).toHaveLength(4);
  });

  it('answers malformed and oversized messages with FAILURE or by closing, and serves the next connection', async () => {
    const failure = Buffer.of(AgentMessage.FAILURE);
    expect(await agentRequest(sock, new Uint8Array(0))).toEqual(failure); // no type byte
    expect(await agentRequest(sock, Uint8Array.of(AgentMessage.REQUEST_IDENTITIES, 0))).toEqual(failure); // trailing byte
    expect(await agentRequest(sock, Uint8Array.of(AgentMessage.SIGN_REQUEST, 0, 0, 1, 0, 1, 2))).toEqual(failure); // string past the end
    expect(await agentRequest(sock, Uint8Array.of(AgentMessage.SIGN_REQUEST))).toEqual(failure);
    expect(await agentRequest(sock, Uint8Array.of(AgentMessage.LOCK, 0xff, 0xff, 0xff, 0xff))).toEqual(failure);
    expect(await agentRequest(sock, Uint8Array.of(AgentMessage.EXTENSION, 0, 0, 0, 2, 0xc3, 0x28))).toEqual(failure); // name not UTF-8
    // a length over 256 KiB: the connection is closed, nothing answered
    const big = await AgentConnection.connect(sock);
    big.write(Uint8Array.of(0x7f, 0xff, 0xff, 0xff, AgentMessage.REQUEST_IDENTITIES));
    expect(await big.next()).toBeUndefined();
    expect(big.closed).toBe(true);
    // half a message, then gone
    const half = await AgentConnection.connect(sock);
    half.write(Uint8Array.of(0, 0, 0, 50, AgentMessage.SIGN_REQUEST, 1, 2));
    half.close();
    // pipelined requests are answered in order
    const many = await AgentConnection.connect(sock);
    many.write(Buffer.concat([0, 1, 2].map(() => Buffer.from(new SshWriter().string(REQUEST_IDENTITIES).bytes()))));
    for (let i = 0; i < 3; i++) expect(identitiesOf(await many.next())).toHaveLength(4);
    many.close();
    expect(identitiesOf(await agentRequest(sock, REQUEST_IDENTITIES))).toHaveLength(4);
    expect(agent.exitCode).toBeNull();
  });

  it('answers the query extension, refuses unknown extensions, and checks session-bind signatures', async () => {
    const q = await agentRequest(sock, new SshWriter().byte(AgentMessage.EXTENSION).string('query').bytes());
    const r = new SshReader(q!.subarray(1));
    expect(q![0]).toBe(AgentMessage.EXTENSION_RESPONSE);
    expect(r.text()).toBe('query');
    const names = [];
    while (r.remaining) names.push(r.text());
    expect(names).toEqual(['query', 'session-bind@openssh.com']);
    expect(await agentRequest(sock, new SshWriter().byte(AgentMessage.EXTENSION).string('no-such@example.com').bytes())).toEqual(
      Buffer.of(AgentMessage.FAILURE),
    );

    const ed = keys.ed;
    const blob = devicePublicKeyBlob(ed.alg, ed.publicKey);
    for (const kind of ['ed25519', 'p256'] as const) {
      const hk = hostKey(kind);
      const sid = createHash('sha256').update(randomBytes(16)).digest();
      // a good binding, then signing on that connection works
      const good = await AgentConnection.connect(sock);
      expect(await good.request(sessionBind(hk.blob, sid, hk.sign(sid), false))).toEqual(Buffer.of(AgentMessage.SUCCESS));
      await logged(/session-bind to host key SHA256:\S+ \((ssh-ed25519|ecdsa-sha2-nistp256)\), signature verified, for authentication/);
      expect(signatureOf(await good.request(signRequest(blob, randomBytes(64))))).toBeDefined();
      // a connection bound for authentication takes no second binding
      const sid2 = randomBytes(32);
      expect(await good.request(sessionBind(hk.blob, sid2, hk.sign(sid2), false))).toEqual(Buffer.of(AgentMessage.EXTENSION_FAILURE));
      good.close();
      // a signature over another session id: EXTENSION_FAILURE, and that connection signs nothing
      const bad = await AgentConnection.connect(sock);
      expect(await bad.request(sessionBind(hk.blob, sid, hk.sign(randomBytes(32)), false))).toEqual(Buffer.of(AgentMessage.EXTENSION_FAILURE));
      expect(await bad.request(signRequest(blob, randomBytes(64)))).toEqual(Buffer.of(AgentMessage.FAILURE));
      bad.close();
    }
    // a host key type the agent cannot check is recorded as unverified, and the bind does not fail
    const from = agentLog.length;
    const dss = new SshWriter().string('ssh-dss').mpint(7n).mpint(11n).mpint(13n).mpint(17n).bytes();
    const sig = new SshWriter().string('ssh-dss').string(randomBytes(40)).bytes();
    expect(await agentRequest(sock, sessionBind(dss, randomBytes(32), sig, true))).toEqual(Buffer.of(AgentMessage.SUCCESS));
    await logged(/\(ssh-dss\), UNVERIFIED/, from);
    // a malformed key of a type it checks is not let through as "unchecked"
    const shortEd = new SshWriter().string('ssh-ed25519').string(randomBytes(31)).bytes();
    expect(await agentRequest(sock, sessionBind(shortEd, randomBytes(32), randomBytes(8), false))).toEqual(Buffer.of(AgentMessage.EXTENSION_FAILURE));
    // malformed session-bind contents
    expect(await agentRequest(sock, new SshWriter().byte(AgentMessage.EXTENSION).string('session-bind@openssh.com').uint32(9).bytes())).toEqual(
      Buffer.of(AgentMessage.EXTENSION_FAILURE),
    );
  });

  it('a key that needs a press: its SIGN waits for the button while other requests are answered at once', async () => {
    const touch = devicePublicKeyBlob(keys.touch.alg, keys.touch.publicKey);
    const other = devicePublicKeyBlob(keys.ed.alg, keys.ed.publicKey);
    const data = randomBytes(100);
    const from = agentLog.length;
    const waiting = agentRequest(sock, signRequest(touch, data));
    await logged(/touch the device's button to sign/, from);
    // meanwhile: the list comes from the agent's copy, another key's SIGN is refused at once instead of queued for 30 s
    let t = Date.now();
    expect(identitiesOf(await agentRequest(sock, REQUEST_IDENTITIES))).toHaveLength(4);
    expect(await agentRequest(sock, signRequest(other, randomBytes(10)))).toEqual(Buffer.of(AgentMessage.FAILURE));
    expect(Date.now() - t).toBeLessThan(2000);
    await logged(/refused: the device waits for a button press/, from);
    t = Date.now();
    sim.press();
    const sig = signatureOf(await waiting);
    expect(sig).toBeDefined();
    expect(verifySshSignature(touch, sig!, data)).toBe('verified');
    // and once it is done, the other key signs again
    expect(signatureOf(await agentRequest(sock, signRequest(other, randomBytes(10))))).toBeDefined();
  });

  it('ssh-add -x locks (nothing listed, nothing signed), a wrong unlock stays locked without spending a PIN try, ssh-add -X with the user PIN unlocks', async () => {
    const askpass = join(dir, 'askpass.sh');
    writeFileSync(askpass, '#!/bin/sh\nprintf "%s\\n" "$TEST_PASSPHRASE"\n', { mode: 0o755 });
    const withPass = (p: string) => ({ ...envAgent, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', TEST_PASSPHRASE: p });
    const blob = devicePublicKeyBlob(keys.ed.alg, keys.ed.publicKey);
    const lock = await run('ssh-add', ['-x'], { env: withPass('any lock passphrase') });
    expect(lock.code, lock.stderr).toBe(0);
    const listed = await run('ssh-add', ['-L'], { env: envAgent });
    expect(listed.code).toBe(1);
    expect(listed.stdout + listed.stderr).toMatch(/no identities/);
    expect(identitiesOf(await agentRequest(sock, REQUEST_IDENTITIES))).toEqual([]);
    const lockedFrom = agentLog.length;
    expect(await agentRequest(sock, signRequest(blob, randomBytes(32)))).toEqual(Buffer.of(AgentMessage.FAILURE));
    await logged(/sign refused: the agent is locked/, lockedFrom); // refused by the agent itself, before the device is asked
    expect(await agentRequest(sock, new SshWriter().byte(AgentMessage.EXTENSION).string('query').bytes())).toEqual(Buffer.of(AgentMessage.FAILURE));
    const login = await run('ssh', [...sshOptions(sshd, ['-o', `IdentityAgent=${sock}`, '-o', `IdentityFile=${keys.ed.pubFile}`]), 'echo', 'ok']);
    expect(login.code).not.toBe(0);
    // locking again fails, as with OpenSSH's agent
    expect(await agentRequest(sock, new SshWriter().byte(AgentMessage.LOCK).string('x').bytes())).toEqual(Buffer.of(AgentMessage.FAILURE));

    const from = agentLog.length;
    const wrong = await run('ssh-add', ['-X'], { env: withPass('not-the-user-pin') });
    expect(wrong.code).not.toBe(0);
    await logged(/unlock failed: wrong passphrase/, from);
    expect(agentLog.slice(from)).not.toMatch(/device refused/);
    expect(identitiesOf(await agentRequest(sock, REQUEST_IDENTITIES))).toEqual([]);

    // a connection bound for forwarding (a remote host that ssh -A gave the agent to) may not even try the PIN
    const hk = hostKey('ed25519');
    const sid = randomBytes(32);
    const forwarded = await AgentConnection.connect(sock);
    expect(await forwarded.request(sessionBind(hk.blob, sid, hk.sign(sid), true))).toEqual(Buffer.of(AgentMessage.SUCCESS));
    expect(await forwarded.request(new SshWriter().byte(AgentMessage.UNLOCK).string(SIM_USER_PIN).bytes())).toEqual(Buffer.of(AgentMessage.FAILURE));
    forwarded.close();
    await logged(/unlock refused on a forwarded connection/, from);
    expect(identitiesOf(await agentRequest(sock, REQUEST_IDENTITIES))).toEqual([]);

    const unlock = await run('ssh-add', ['-X'], { env: withPass(SIM_USER_PIN) });
    expect(unlock.code, unlock.stderr).toBe(0);
    expect((await run('ssh-add', ['-L'], { env: envAgent })).stdout.trim().split('\n')).toHaveLength(4);
    const again = await run('ssh', [...sshOptions(sshd, ['-o', `IdentityAgent=${sock}`, '-o', `IdentityFile=${keys.ed.pubFile}`]), 'echo', 'ok']);
    expect(again.code, again.stderr).toBe(0);
    // unlocking an unlocked agent fails
    expect(await agentRequest(sock, new SshWriter().byte(AgentMessage.UNLOCK).string(SIM_USER_PIN).bytes())).toEqual(Buffer.of(AgentMessage.FAILURE));
  });

  it('SIGTERM stops it and removes its socket', async () => {
    agent.kill('SIGTERM');
    const code = await new Promise((r) => agent.once('exit', (c) => r(c)));
    expect(code).toBe(0);
    expect(existsSync(sock)).toBe(false);
    expect(agentLog).toMatch(/SIGTERM: stopping/);
  });

  it('a wrong PIN stops it before it listens', async () => {
    const s = join(dir, 'wrong.sock');
    const r = await runCli(['ssh-agent', '--foreground', '-a', s, '--device', sim.device], { ...SIM_PIN_ENV, HSM_PIN: 'wrong-pin-000' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/PIN_INCORRECT/);
    expect(r.stdout).toBe('');
    expect(existsSync(s)).toBe(false);
  });

  it('without --foreground it detaches, as `eval "$(tinyhsm ssh-agent)"` wants, and serves until killed', async () => {
    const r = await runCli(['ssh-agent', '--device', sim.device], SIM_PIN_ENV);
    expect(r.code, r.stderr).toBe(0);
    const m = /^SSH_AUTH_SOCK=(\S+); export SSH_AUTH_SOCK;\nSSH_AGENT_PID=(\d+); export SSH_AGENT_PID;\necho Agent pid \2;\n$/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const [, path, pid] = m!;
    expect(path).toMatch(/\/tinyhsm-ssh-[^/]+\/agent\.\d+$/);
    const l = await run('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: path } });
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout.trim().split('\n')).toHaveLength(4);
    // -k as ssh-agent(1): stops the agent SSH_AGENT_PID names, and has waited for its socket to go
    const k = await runCli(['ssh-agent', '-k'], { SSH_AGENT_PID: pid });
    expect(k.code, k.stderr).toBe(0);
    expect(k.stdout).toBe(`unset SSH_AUTH_SOCK;\nunset SSH_AGENT_PID;\necho Agent pid ${pid} killed;\n`);
    expect(existsSync(path)).toBe(false);
    const again = await runCli(['ssh-agent', '-k'], { SSH_AGENT_PID: pid });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`no process ${pid} (SSH_AGENT_PID): the ssh-agent has already stopped`);

    // --json: one object, and -a puts the socket where it is told
    const at = join(dir, 'json-agent.sock');
    const j = await runCli(['ssh-agent', '--json', '-a', at, '--device', sim.device], SIM_PIN_ENV);
    expect(j.code, j.stderr).toBe(0);
    const out = JSON.parse(j.stdout);
    expect(out.SSH_AUTH_SOCK).toBe(at);
    expect(out.identities.map((k: { comment: string }) => k.comment)).toEqual(['ssh-ed', 'ssh-p256', `tinyhsm key ${keys.nolabel.keyId}`, 'ssh-touch']);
    expect(identitiesOf(await agentRequest(at, REQUEST_IDENTITIES))).toHaveLength(4);
    process.kill(out.SSH_AGENT_PID, 'SIGTERM');
    for (let i = 0; existsSync(at) && i < 200; i++) await new Promise((res) => setTimeout(res, 25));
    expect(existsSync(at)).toBe(false);
  });
});

describe('ssh-agent idle logout (in-process simulator)', () => {
  it('locks itself when the device refuses the kept PIN (changed elsewhere), instead of spending tries; the new PIN unlocks', async () => {
    const h = await startInProcess();
    const other = new HsmClient(new InProcessTransport(h.sim, false));
    const { publicKey } = await h.client.generateKey('ed25519', 'changed');
    const lines: string[] = [];
    const agent = await SshAgent.start({ client: h.client, pin: SIM_USER_PIN, idleMs: 100, log: (l) => lines.push(l) });
    const conn = { id: 1, bindings: [], bindFailed: false };
    const newPin = 'a-new-user-pin-0003';
    try {
      const blob = devicePublicKeyBlob(Alg.ED25519, publicKey);
      const sign = async () => Buffer.from(await agent.handle(signRequest(blob, randomBytes(16)), conn));
      for (let i = 0; i < 50 && agent.deviceLoggedIn; i++) await new Promise((r) => setTimeout(r, 20));
      expect(agent.deviceLoggedIn).toBe(false);
      await other.changePin('user', SIM_USER_PIN, newPin);
      expect(await sign()).toEqual(Buffer.of(AgentMessage.FAILURE));
      expect(agent.locked).toBe(true);
      expect(lines.join('\n')).toMatch(/the device refused the kept PIN .*locked itself/);
      expect(await sign()).toEqual(Buffer.of(AgentMessage.FAILURE)); // no second try with the old PIN
      expect((await other.info()).userPinTries).toBe(7);
      const unlock = (p: string) => agent.handle(new SshWriter().byte(AgentMessage.UNLOCK).string(p).bytes(), conn);
      expect(Buffer.from(await unlock(newPin))).toEqual(Buffer.of(AgentMessage.SUCCESS));
      expect(signatureOf(await sign())).toBeDefined();
    } finally {
      await agent.close();
      await other.changePin('user', newPin, SIM_USER_PIN).catch(() => {});
      await other.close();
      await h.close();
    }
  });

  it('logs the device out after the idle time without a signature, and in again for the next one', async () => {
    const h = await startInProcess();
    const { publicKey } = await h.client.generateKey('ed25519', 'idle');
    const lines: string[] = [];
    const agent = await SshAgent.start({ client: h.client, pin: SIM_USER_PIN, idleMs: 300, log: (l) => lines.push(l) });
    const conn = { id: 1, bindings: [], bindFailed: false };
    try {
      const blob = devicePublicKeyBlob(Alg.ED25519, publicKey);
      const sign = async () => signatureOf(Buffer.from(await agent.handle(signRequest(blob, randomBytes(16)), conn)));
      expect(await sign()).toBeDefined();
      expect(agent.deviceLoggedIn).toBe(true);
      await new Promise((r) => setTimeout(r, 150));
      expect(await sign()).toBeDefined(); // a signature restarts the wait
      await new Promise((r) => setTimeout(r, 200));
      expect(agent.deviceLoggedIn).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      expect(agent.deviceLoggedIn).toBe(false);
      expect(h.client.role).toBeUndefined(); // the client holds no PIN either: the device session has no role
      expect(lines.join('\n')).toMatch(/logged the device out/);
      // listing does not log in again (the agent's copy of the list answers)
      expect(identitiesOf(Buffer.from(await agent.handle(REQUEST_IDENTITIES, conn))).map((k) => k.comment)).toEqual(['idle']);
      expect(agent.deviceLoggedIn).toBe(false);
      expect(await sign()).toBeDefined();
      expect(agent.deviceLoggedIn).toBe(true);
      expect(lines.join('\n')).toMatch(/logged the device in again/);
    } finally {
      await agent.close();
      await h.close();
    }
  });
});
