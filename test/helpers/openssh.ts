// The real OpenSSH programs for the ssh tests (docs/ssh.md): finding them, a throwaway sshd on 127.0.0.1, ssh options that read nothing of the user's, a raw agent-protocol client, and the skip-or-fail rule for machines without them.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { agentFrame } from '../../host/ssh.ts';
import { spawnSim, type SimProcess } from './sim.ts';

/** sshd(8) must be started by its absolute path; Debian puts it here. */
export const SSHD = '/usr/sbin/sshd';

function onPath(name: string): boolean {
  for (const dir of (process.env.PATH || '').split(':')) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** The OpenSSH programs these tests run that this machine lacks. */
export function missingOpenSsh(): string[] {
  const missing = ['ssh', 'ssh-add', 'ssh-keygen'].filter((p) => !onPath(p));
  try {
    accessSync(SSHD, constants.X_OK);
  } catch {
    missing.push(SSHD);
  }
  return missing;
}

/**
 * Whether the OpenSSH tests skip: only when programs are missing and this is not CI. CI installs them (.ci/run), so
 * there a missing program makes the tests run and fail instead of passing unseen.
 */
export function opensshSkip(): { skip: boolean; reason: string } {
  const missing = missingOpenSsh();
  const reason = missing.length ? `OpenSSH programs missing (${missing.join(', ')}): install openssh-client and openssh-server to run these tests` : '';
  return { skip: missing.length > 0 && !process.env.CI, reason };
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a program to its end without blocking the event loop (an agent may be serving in this process). */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env || process.env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs || 20_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A TCP port nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export const USER = userInfo().username;

export interface Sshd {
  port: number;
  dir: string;
  /** The file sshd reads authorized keys from (empty at start). */
  authorizedKeys: string;
  /** sshd's TrustedUserCAKeys (empty at start). */
  trustedCa: string;
  /** A known_hosts with this sshd's host keys, for StrictHostKeyChecking=yes. */
  knownHosts: string;
  /** What sshd logged so far (-e). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * A throwaway sshd(8) on 127.0.0.1 and a free port, run as the current user (as root in CI: PermitRootLogin
 * prohibit-password), with its host keys (Ed25519, ECDSA P-256, RSA) made by ssh-keygen in `dir`.
 */
export async function startSshd(dir: string): Promise<Sshd> {
  // as root, sshd wants its privilege separation directory
  if (process.getuid && process.getuid() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755, recursive: true });
  const hostKeys: string[] = [];
  await Promise.all(
    [
      ['ed25519', []],
      ['ecdsa', ['-b', '256']],
      ['rsa', ['-b', '2048']],
    ].map(async ([type, extra]) => {
      const f = join(dir, `host_${type}`);
      const r = await run('ssh-keygen', ['-q', '-t', type as string, ...(extra as string[]), '-N', '', '-C', `test-host-${type}`, '-f', f]);
      if (r.code !== 0) throw new Error(`ssh-keygen -t ${type}: ${r.stderr}`);
      hostKeys.push(f);
    }),
  );
  hostKeys.sort();
  const authorizedKeys = join(dir, 'authorized_keys');
  const trustedCa = join(dir, 'trusted_ca');
  writeFileSync(authorizedKeys, '');
  writeFileSync(trustedCa, '');
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      ...hostKeys.map((k) => `HostKey ${k}`),
      'PidFile none',
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      `AuthorizedKeysFile ${authorizedKeys}`,
      `TrustedUserCAKeys ${trustedCa}`,
      'AllowAgentForwarding yes',
      'PrintMotd no',
      'PrintLastLog no',
      'LogLevel VERBOSE',
      'MaxStartups 50',
      '',
    ].join('\n'),
  );
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, hostKeys.map((k) => `[127.0.0.1]:${port} ${readFileSync(k + '.pub', 'utf8').trim()}`).join('\n') + '\n');
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // ready when it accepts a connection
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`sshd exited at start: ${log}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    if (i > 200) throw new Error(`sshd did not listen on ${port}: ${log}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    port,
    dir,
    authorizedKeys,
    trustedCa,
    knownHosts,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** ssh(1) options that read no config, key or known_hosts of the user's, never prompt, and pin the test sshd's host keys. */
export function sshOptions(sshd: Sshd, extra: string[] = []): string[] {
  return [
    '-F',
    '/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    `UserKnownHostsFile=${sshd.knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'PasswordAuthentication=no',
    '-o',
    'KbdInteractiveAuthentication=no',
    '-o',
    'ConnectTimeout=10',
    '-o',
    'LogLevel=ERROR',
    '-p',
    String(sshd.port),
    ...extra,
    `${USER}@127.0.0.1`,
  ];
}

/** A raw agent-protocol client on one connection: send a message body, read one answer body (draft-miller-ssh-agent §3). */
export class AgentConnection {
  private buf = Buffer.alloc(0);
  private waiters: ((b: Buffer | undefined) => void)[] = [];
  private closedFlag = false;

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.drain();
    });
    sock.on('close', () => {
      this.closedFlag = true;
      for (const w of this.waiters.splice(0)) w(undefined);
    });
    sock.on('error', () => {});
  }

  static connect(path: string): Promise<AgentConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path, () => resolve(new AgentConnection(s)));
      s.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  private drain(): void {
    while (this.waiters.length > 0 && this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readUInt32BE(0)) {
      const n = this.buf.readUInt32BE(0);
      const body = this.buf.subarray(4, 4 + n);
      this.buf = this.buf.subarray(4 + n);
      this.waiters.shift()!(Buffer.from(body));
    }
  }

  /** The next answer, or undefined when the agent closed the connection. */
  next(): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      if (this.closedFlag && this.buf.length === 0) return resolve(undefined);
      this.waiters.push(resolve);
      this.drain();
    });
  }

  /** Write raw bytes (for malformed frames). */
  write(bytes: Uint8Array): void {
    this.sock.write(bytes);
  }

  /** Send one message body framed, and read its answer. */
  request(body: Uint8Array): Promise<Buffer | undefined> {
    this.write(agentFrame(body));
    return this.next();
  }

  close(): void {
    this.sock.destroy();
  }
}

/** One request on a fresh connection. */
export async function agentRequest(path: string, body: Uint8Array): Promise<Buffer | undefined> {
  const c = await AgentConnection.connect(path);
  try {
    return await c.request(body);
  } finally {
    c.close();
  }
}

/**
 * What every ssh test file starts from: a temporary directory sshd's sessions can read (0755, same user), a simulator
 * on a socket in it, initialized with the test PINs, and an sshd starting there. `sshd` is awaited by the caller once
 * its own setup is done; a failure to start is reported there, not as an unhandled rejection.
 */
export async function sshWorkspace(prefix: string): Promise<{ dir: string; sim: SimProcess; sshd: Promise<Sshd> }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  const sim = await spawnSim(['--socket', join(dir, 'sim.sock')]);
  const sshd = startSshd(dir);
  sshd.catch(() => {});
  return { dir, sim, sshd };
}
