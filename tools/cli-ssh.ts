// `tinyhsm ssh-agent` and `tinyhsm ssh-ca sign`: the SSH agent on the device's keys and OpenSSH certificates signed by a device key (docs/ssh.md); tools/cli.ts dispatches to them.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { createInterface } from 'node:readline';
import { Alg, Capability, type InfoResponse } from '../firmware/protocol/index.ts';
import { HsmClient, HsmError, type RoleName } from '../host/index.ts';
import { SshAgent } from '../host/ssh-agent.ts';
import { DAEMON_CHILD, StopRefused, detachSelf, quietAfterReady, shellWord, stopDaemon, untilStopped } from './daemon.ts';
import {
  CertType,
  DEFAULT_USER_EXTENSIONS,
  FOREVER,
  SshFormatError,
  devicePublicKeyBlob,
  fingerprint,
  issueCertificate,
  parsePublicKeyLine,
  parseValidity,
  sshKeyType,
} from '../host/ssh.ts';

/** The options of tools/cli.ts these commands read (its Opts has them all). */
export interface SshOpts {
  device?: string;
  trust?: boolean;
  json?: boolean;
  socket?: string;
  idle?: string;
  foreground?: boolean;
  kill?: boolean;
  key?: string;
  pub?: string;
  'cert-id'?: string;
  principals?: string;
  validity?: string;
  host?: boolean;
  serial?: string;
  out?: string;
}

/** What these commands take from tools/cli.ts: its PIN lookup, its login wrapper and its usage error. */
export interface SshCliHelpers<O extends SshOpts> {
  credentials(need: RoleName, opts: O, what: string): Promise<{ role: RoleName; pin: string }>;
  withLogin<T>(opts: O, need: RoleName, what: string, fn: (c: HsmClient, info: InfoResponse) => Promise<T>): Promise<T>;
  usage(message: string): Error;
  /** An operation that failed (exit 1), e.g. a file that cannot be read or written; `status` names it ('IO'). */
  failure(status: string, message: string): Error;
  /** Aborted by Ctrl-C (tools/cli.ts main). */
  interrupt: AbortSignal | undefined;
}

type Result = { json: object; text: string };

// ---------------------------------------------------------------- ssh-agent

/** `--idle MIN`: minutes (a decimal allowed, 0 = never), default 15. */
function idleMinutes(v: string | undefined, usage: (m: string) => Error): number {
  if (v === undefined) return 15;
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(n)) throw usage(`--idle takes minutes (e.g. 15, or 0 for never), got "${v}"`);
  return n;
}

/** The lines `eval` takes, as ssh-agent(1) prints them for a Bourne shell. */
function agentLines(socket: string, pid: number): string {
  return [`SSH_AUTH_SOCK=${shellWord(socket)}; export SSH_AUTH_SOCK;`, `SSH_AGENT_PID=${pid}; export SSH_AGENT_PID;`, `echo Agent pid ${pid};`].join('\n');
}

/** The PIN the daemonizing parent writes on this process's standard input (one line). */
function pinFromStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin });
    let done = false;
    rl.once('line', (line) => {
      done = true;
      rl.close();
      process.stdin.destroy();
      resolve(line);
    });
    rl.once('close', () => {
      if (!done) reject(new Error('no PIN on standard input'));
    });
  });
}

/**
 * `tinyhsm ssh-agent [-a SOCKET] [--idle MIN] [--foreground]`, or `-k` to stop it. Without --foreground it starts itself again as a
 * detached process with --foreground (the PIN goes over a pipe, never in arguments or the environment), prints that
 * process's lines and returns, so `eval "$(tinyhsm ssh-agent)"` works as with ssh-agent(1).
 */
export async function sshAgentCommand<O extends SshOpts>(positionals: string[], opts: O, h: SshCliHelpers<O>): Promise<Result> {
  if (positionals.length > 0) throw h.usage(`ssh-agent takes no arguments (got "${positionals[0]}"); run it with eval "$(tinyhsm ssh-agent)"`);
  if (opts.kill) return killAgent(opts, h);
  const idle = idleMinutes(opts.idle, h.usage);
  if (opts.socket === '') throw h.usage('-a needs a socket path');
  const child = process.env[DAEMON_CHILD] === '1';
  if (!opts.foreground && !child) return daemonize(opts, h);
  const pin = child ? await pinFromStdin() : (await h.credentials('user', opts, 'ssh-agent')).pin;
  return serveAgent(opts, pin, idle, child, h);
}

/** `tinyhsm ssh-agent -k`: stop the agent SSH_AGENT_PID names and print what `eval` takes to forget it, as `ssh-agent -k` does. */
async function killAgent<O extends SshOpts>(opts: O, h: SshCliHelpers<O>): Promise<Result> {
  let pid: number;
  try {
    pid = await stopDaemon('ssh-agent', 'SSH_AGENT_PID');
  } catch (e) {
    if (e instanceof StopRefused) throw e.usage ? h.usage(e.message) : h.failure('AGENT', e.message);
    throw e;
  }
  return { json: { stopped: pid }, text: ['unset SSH_AUTH_SOCK;', 'unset SSH_AGENT_PID;', `echo Agent pid ${pid} killed;`].join('\n') };
}

async function daemonize<O extends SshOpts>(opts: O, h: SshCliHelpers<O>): Promise<Result> {
  const { pin } = await h.credentials('user', opts, 'ssh-agent');
  const args = ['ssh-agent', '--foreground'];
  if (opts.device !== undefined) args.push('--device', opts.device);
  if (opts.trust) args.push('--trust');
  if (opts.socket !== undefined) args.push('-a', resolvePath(opts.socket));
  if (opts.idle !== undefined) args.push('--idle', opts.idle);
  if (opts.json) args.push('--json');
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.HSM_PIN; // the PIN goes over the pipe: a process's environment stays readable for its whole life
  const out = await detachSelf({ args, env, input: pin + '\n', ready: (line) => opts.json === true || line.startsWith('echo Agent pid') });
  return opts.json ? { json: JSON.parse(out[0]), text: '' } : { json: {}, text: out.join('\n') };
}

async function serveAgent<O extends SshOpts>(opts: O, pin: string, idleMin: number, child: boolean, h: SshCliHelpers<O>): Promise<Result> {
  let tmpDir: string | undefined;
  let socket: string;
  if (opts.socket !== undefined) socket = resolvePath(opts.socket);
  else {
    // as ssh-agent(1): a fresh directory only this user can enter, the socket inside it
    tmpDir = mkdtempSync(join(tmpdir(), 'tinyhsm-ssh-'));
    socket = join(tmpDir, `agent.${process.pid}`);
  }
  let logging = !child;
  const log = (line: string) => {
    if (logging) process.stderr.write(`tinyhsm ssh-agent: ${line}\n`);
  };
  const client = await HsmClient.open(opts.device, { trust: opts.trust === true });
  let agent: SshAgent | undefined;
  try {
    const info = await client.info();
    if (!info.initialized) throw new HsmError('NOT_INITIALIZED', 'ssh-agent refused: the device is factory-new and has no PINs yet');
    agent = await SshAgent.start({ client, pin, idleMs: idleMin * 60_000, log });
    await agent.listen(socket);
  } catch (e) {
    if (agent) await agent.close();
    await client.close();
    if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
    throw e;
  }
  const identities = agent.identities.map((k) => ({
    keyId: k.keyId,
    comment: k.comment,
    type: sshKeyType(k.alg),
    fingerprint: fingerprint(k.blob),
    touch: k.touch,
  }));
  for (const k of identities) log(`offering key ${k.keyId} (${k.comment}) ${k.type} ${k.fingerprint}${k.touch ? ', button press per use' : ''}`);
  if (identities.length === 0) log('the device has no Ed25519 or P-256 key that may sign: the agent lists nothing');
  const json = { SSH_AUTH_SOCK: socket, SSH_AGENT_PID: process.pid, identities };
  process.stdout.write((opts.json ? JSON.stringify(json) : agentLines(socket, process.pid)) + '\n');
  if (child) {
    // the parent that reads these lines exits now: nothing more may go to its pipes
    logging = false;
    quietAfterReady();
  }
  const why = await untilStopped(h.interrupt);
  log(`${why}: stopping; removing ${socket}`);
  await agent.close();
  await client.close();
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  // the lines were printed when the agent started; main() must not print a second result
  process.exit(0);
}

// ---------------------------------------------------------------- ssh-ca

/** ssh-keygen(1)'s name for a certificate of `pub`: `user.pub` → `user-cert.pub`, anything else gets `-cert.pub`. */
export function certificatePath(pub: string): string {
  return pub.endsWith('.pub') ? pub.slice(0, -4) + '-cert.pub' : pub + '-cert.pub';
}

function serialOf(v: string | undefined, usage: (m: string) => Error): bigint {
  if (v === undefined) return BigInt('0x' + randomBytes(8).toString('hex'));
  if (!/^(\d+|0x[0-9a-fA-F]+)$/.test(v)) throw usage(`--serial takes a number (decimal or 0x hex), got "${v}"`);
  const n = BigInt(v);
  if (n > FOREVER) throw usage('--serial must fit in 64 bits');
  return n;
}

/** Seconds since the epoch as ssh-keygen -L prints them (local time, no zone), or its words for the limits. */
function timeText(t: bigint, end: boolean): string {
  if (!end && t === 0n) return 'always';
  if (end && t === FOREVER) return 'forever';
  const d = new Date(Number(t) * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * `tinyhsm ssh-ca sign --key ID --pub user.pub -I KEY_ID -n PRINCIPALS -V VALIDITY [--host] [--serial N] [--out FILE]`:
 * an OpenSSH certificate for the key in user.pub, signed by device key ID (PROTOCOL.certkeys), written as ssh-keygen
 * writes it (user-cert.pub beside user.pub unless --out).
 */
export async function sshCaCommand<O extends SshOpts>(positionals: string[], opts: O, h: SshCliHelpers<O>): Promise<Result> {
  const sub = positionals[0];
  if (sub === 'pubkey') throw h.usage("the CA's public key is `tinyhsm pubkey --key ID --format ssh` (put that line in sshd's TrustedUserCAKeys)");
  if (sub !== 'sign') throw h.usage('ssh-ca takes sign (the CA public key: `tinyhsm pubkey --key ID --format ssh`)');
  if (positionals.length > 1) throw h.usage(`ssh-ca sign takes no further arguments (got "${positionals[1]}")`);
  const keyId = Number(opts.key);
  if (opts.key === undefined || !/^\d+$/.test(opts.key) || keyId < 1)
    throw h.usage('--key ID (the CA key on the device, a number from `tinyhsm list`) is required');
  if (opts.pub === undefined) throw h.usage('--pub FILE (the OpenSSH public key to certify, e.g. id_ed25519.pub) is required');
  if (opts['cert-id'] === undefined) throw h.usage("-I KEY_ID (the certificate identity sshd logs, e.g. the person's name) is required");
  if (opts.principals === undefined) throw h.usage('-n PRINCIPALS (comma-separated user names, or host names with --host) is required');
  if (opts.validity === undefined) throw h.usage('-V VALIDITY is required, e.g. +1h, +52w, -5m:+1h, 20250101:20260101 or always');
  const principals = opts.principals.split(',').map((p) => p.trim());
  if (principals.some((p) => p === '')) throw h.usage('-n: an empty principal (use comma-separated names, no empty ones)');
  let validity;
  try {
    // tools/cli.ts attachDashValues joins `-V -5m:+1h` to its flag; -V=-5m:+1h reaches here with its "=", which no
    // validity begins with
    validity = parseValidity(opts.validity.replace(/^=/, ''));
  } catch (e) {
    throw h.usage(`-V: ${(e as Error).message}`);
  }
  const serial = serialOf(opts.serial, h.usage);
  let text: string;
  try {
    text = readFileSync(opts.pub, 'utf8');
  } catch (e) {
    throw h.failure('IO', `cannot read --pub ${opts.pub}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const line = text.split('\n').find((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  let subject;
  try {
    if (line === undefined) throw new SshFormatError('the file is empty');
    subject = parsePublicKeyLine(line);
  } catch (e) {
    throw h.usage(`--pub ${opts.pub}: ${(e as Error).message} (expected one OpenSSH public key line, as ssh-keygen writes id_*.pub)`);
  }
  if (subject.type.endsWith('-cert-v01@openssh.com')) throw h.usage(`--pub ${opts.pub} is a certificate; give the plain public key`);
  const host = opts.host === true;
  const out = opts.out !== undefined ? opts.out : certificatePath(opts.pub);
  return h.withLogin(opts, 'user', 'SIGN', async (c) => {
    const ca = await c.publicKey(keyId);
    if (ca.alg !== Alg.ED25519 && ca.alg !== Alg.ECDSA_P256) {
      throw h.usage(`key ${keyId} is not an Ed25519 or P-256 key: an OpenSSH CA key on the device must be one of those`);
    }
    if ((ca.capabilities & Capability.SIGN) === 0) throw h.usage(`key ${keyId} may not sign (its policy lacks the sign capability)`);
    const fields = {
      serial,
      type: host ? CertType.HOST : CertType.USER,
      keyId: opts['cert-id'] as string,
      principals,
      ...validity,
      // ssh-keygen gives user certificates these by default and host certificates none (PROTOCOL.certkeys)
      extensions: host ? [] : DEFAULT_USER_EXTENSIONS.map((n): [string, Uint8Array] => [n, new Uint8Array(0)]),
    };
    const cert = await issueCertificate(c, keyId, ca.alg, ca.publicKey, subject.blob, fields, { signal: h.interrupt });
    const certType = subject.type + '-cert-v01@openssh.com';
    const certLine = `${certType} ${Buffer.from(cert).toString('base64')}${subject.comment ? ' ' + subject.comment : ''}`;
    // written whole or not at all: a temporary file renamed over the old one
    const tmp = join(dirname(resolvePath(out)), `.${Date.now()}.${process.pid}.tmp`);
    try {
      writeFileSync(tmp, certLine + '\n', { mode: 0o644 });
      renameSync(tmp, out);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw h.failure('IO', `cannot write the certificate to ${out}: ${(e as Error).message}`);
    }
    const caFp = fingerprint(devicePublicKeyBlob(ca.alg, ca.publicKey));
    const json = {
      file: out,
      certType,
      type: host ? 'host' : 'user',
      keyId: fields.keyId,
      serial: serial.toString(),
      principals,
      validAfter: validity.validAfter.toString(),
      validBefore: validity.validBefore.toString(),
      extensions: fields.extensions.map(([n]) => n),
      ca: { key: keyId, type: sshKeyType(ca.alg), fingerprint: caFp },
      certificate: certLine,
    };
    const textOut =
      `Signed ${host ? 'host' : 'user'} key ${out}: id "${fields.keyId}" serial ${serial} for ${principals.join(',')} ` +
      `valid from ${timeText(validity.validAfter, false)} to ${timeText(validity.validBefore, true)} (CA: key ${keyId}, ${caFp})`;
    return { json, text: textOut };
  });
}
