// Trust on first use for device identity keys (docs/session.md §9): the known-devices file in the user's config directory.
//
// The file maps a device id (hex) to the Ed25519 identity public key the host pinned for it. A device that is not in
// the file is refused unless the caller passes `trust` (the CLI's --trust); a device whose identity key differs from
// the pinned one is always refused, --trust or not, because that is exactly what an impersonator would look like.
// Writes are atomic (a temporary file in the same directory, fsync, rename) and the file is private (0600).
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, chmodSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';

export const KNOWN_DEVICES_FILE = 'known-devices.json';

export interface KnownDevice {
  /** Ed25519 identity public key, 64 lower-case hex digits. */
  identityKey: string;
  /** When this host first pinned it (ISO 8601). */
  firstSeen: string;
  /** What the device called itself then (INFO label), if anything. */
  label?: string;
}

interface KnownDevicesFile {
  version: 1;
  devices: { [deviceIdHex: string]: KnownDevice };
}

export type TrustErrorCode =
  /** Not pinned yet and no --trust. */
  | 'UNKNOWN_DEVICE'
  /** Pinned with a different identity key. */
  | 'IDENTITY_CHANGED'
  /** The known-devices file cannot be read or written, or is not what this program wrote. */
  | 'BAD_FILE';

export class TrustError extends Error {
  override readonly name = 'TrustError';
  constructor(
    readonly code: TrustErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Where the file lives: $HSM_KNOWN_DEVICES if set (tests, several profiles), else $XDG_CONFIG_HOME/tinyhsm/…
 * (an absolute XDG_CONFIG_HOME only, as the XDG Base Directory spec says), else %APPDATA%\tinyhsm\… on Windows,
 * else ~/.config/tinyhsm/known-devices.json.
 */
export function defaultKnownDevicesPath(env: NodeJS.ProcessEnv = process.env, home: string = homedir(), platform: string = process.platform): string {
  if (env.HSM_KNOWN_DEVICES) return env.HSM_KNOWN_DEVICES;
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'tinyhsm', KNOWN_DEVICES_FILE);
  if (platform === 'win32' && env.APPDATA) return join(env.APPDATA, 'tinyhsm', KNOWN_DEVICES_FILE);
  return join(home, '.config', 'tinyhsm', KNOWN_DEVICES_FILE);
}

function normHex(v: Uint8Array | string, bytes: number, what: string): string {
  const h = typeof v === 'string' ? v.toLowerCase() : Buffer.from(v).toString('hex');
  if (h.length !== bytes * 2 || !/^[0-9a-f]*$/.test(h)) throw new TypeError(`${what} must be ${bytes} bytes (${bytes * 2} hex digits)`);
  return h;
}

/**
 * A short name for an identity key, to compare by eye or read out: the first 8 bytes of its SHA-256 in hex, as officers'
 * fingerprints are made (host/approvals.ts). Compare the whole key (`tinyhsm info`) before pinning; this only tells
 * entries apart.
 */
export function identityFingerprint(identityKey: Uint8Array | string): string {
  const key = typeof identityKey === 'string' ? Buffer.from(normHex(identityKey, 32, 'an identity key'), 'hex') : identityKey;
  return createHash('sha256').update(key).digest().subarray(0, 8).toString('hex');
}

export interface CheckOptions {
  /** Pin a device that is not known yet (the CLI's --trust). Never overrides a changed identity. */
  trust?: boolean;
  /** Stored with a newly pinned device. */
  label?: string;
  /** Clock for firstSeen (tests). */
  now?: () => Date;
}

export class KnownDevices {
  readonly path: string;

  constructor(path: string = defaultKnownDevicesPath()) {
    this.path = path;
  }

  /** Every pinned device (an empty map if the file does not exist yet). Throws TrustError BAD_FILE if it is unreadable. */
  list(): { [deviceIdHex: string]: KnownDevice } {
    return { ...this.read().devices };
  }

  /** The pinned entry of a device, if any. */
  get(deviceId: Uint8Array | string): KnownDevice | undefined {
    const d = this.read().devices[normHex(deviceId, 16, 'a device id')];
    return d ? { ...d } : undefined;
  }

  /**
   * 'known' if the device is pinned with this identity key; 'new-trusted' if it was not pinned and `trust` pinned it
   * now. Throws TrustError: UNKNOWN_DEVICE (not pinned, no trust), IDENTITY_CHANGED (pinned with another key), BAD_FILE.
   */
  check(deviceId: Uint8Array | string, identityKey: Uint8Array | string, opts: CheckOptions = {}): 'known' | 'new-trusted' {
    const id = normHex(deviceId, 16, 'a device id');
    const key = normHex(identityKey, 32, 'an identity key');
    const file = this.read();
    const pinned = file.devices[id];
    if (pinned) {
      if (pinned.identityKey === key) return 'known';
      throw new TrustError(
        'IDENTITY_CHANGED',
        `the identity key of device ${id} changed since ${pinned.firstSeen} (pinned ${pinned.identityKey}, now ${key}); ` +
          'this can mean the device was reset or replaced, or that something is impersonating it. ' +
          `If you reset it yourself, remove its entry ("${id}") from ${this.path} (\`tinyhsm trust remove ${id}\`) and run again with --trust to pin the new key.`,
      );
    }
    if (!opts.trust)
      throw new TrustError(
        'UNKNOWN_DEVICE',
        `device ${id} is not a known device (its identity key is ${key}). If this is your device, compare that key with ` +
          `the one it shows on a machine you trust, then run again with --trust to pin it (saved in ${this.path}).`,
      );
    const entry: KnownDevice = { identityKey: key, firstSeen: (opts.now ? opts.now() : new Date()).toISOString() };
    if (opts.label) entry.label = opts.label;
    file.devices[id] = entry;
    this.write(file);
    return 'new-trusted';
  }

  /** Remove a device's pin (after the owner reset it). Returns whether there was one. */
  forget(deviceId: Uint8Array | string): boolean {
    const id = normHex(deviceId, 16, 'a device id');
    const file = this.read();
    if (!file.devices[id]) return false;
    delete file.devices[id];
    this.write(file);
    return true;
  }

  /**
   * Refuses a file that someone else could have written, as ssh's StrictModes refuses a known_hosts or
   * authorized_keys that others can write: whoever can write it can pin an impostor's identity key. The file must
   * be owned by this user (or root) and not writable by group or others; its directory likewise, unless it is a
   * sticky directory such as /tmp (where others cannot replace a file they do not own). POSIX only.
   */
  private checkOwnership(): void {
    if (process.platform === 'win32' || typeof process.getuid !== 'function') return;
    const uid = process.getuid();
    const refuse = (what: string, path: string, why: string, fix: string) =>
      new TrustError('BAD_FILE', `the known-devices ${what} ${path} ${why}: anyone who can write it can pin an impostor's identity key. ${fix}`);
    const file = statSync(this.path);
    if (file.uid !== uid && file.uid !== 0)
      throw refuse('file', this.path, `belongs to another user (uid ${file.uid})`, `Copy it to a file of your own or set HSM_KNOWN_DEVICES.`);
    if ((file.mode & 0o022) !== 0)
      throw refuse(
        'file',
        this.path,
        `is writable by ${file.mode & 0o002 ? 'others' : 'its group'} (mode ${(file.mode & 0o777).toString(8)})`,
        `Run: chmod go-w ${this.path}`,
      );
    const dir = dirname(this.path);
    const d = statSync(dir);
    const sticky = (d.mode & 0o1000) !== 0;
    if (d.uid !== uid && d.uid !== 0 && !sticky)
      throw refuse('directory', dir, `belongs to another user (uid ${d.uid})`, `Keep the file in a directory of your own.`);
    if ((d.mode & 0o022) !== 0 && !sticky)
      throw refuse(
        'directory',
        dir,
        `is writable by ${d.mode & 0o002 ? 'others' : 'its group'} (mode ${(d.mode & 0o777).toString(8)})`,
        `Run: chmod go-w ${dir}`,
      );
  }

  private read(): KnownDevicesFile {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
      this.checkOwnership();
    } catch (e) {
      if (e instanceof TrustError) throw e;
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, devices: {} };
      throw new TrustError('BAD_FILE', `cannot read the known-devices file ${this.path}: ${(e as Error).message}`);
    }
    const bad = (why: string) =>
      new TrustError(
        'BAD_FILE',
        `the known-devices file ${this.path} is not valid (${why}); fix it or move it away (moving it away forgets every pinned device)`,
      );
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw bad('not JSON');
    }
    const f = parsed as KnownDevicesFile;
    if (!f || typeof f !== 'object' || f.version !== 1 || !f.devices || typeof f.devices !== 'object' || Array.isArray(f.devices))
      throw bad('expected {"version": 1, "devices": {...}}');
    const devices: { [id: string]: KnownDevice } = Object.create(null);
    for (const [id, d] of Object.entries(f.devices)) {
      if (!/^[0-9a-f]{32}$/.test(id)) throw bad(`device id "${id}" is not 32 lower-case hex digits`);
      if (!d || typeof d.identityKey !== 'string' || !/^[0-9a-f]{64}$/.test(d.identityKey))
        throw bad(`the identity key of ${id} is not 64 lower-case hex digits`);
      if (typeof d.firstSeen !== 'string') throw bad(`the entry of ${id} has no firstSeen date`);
      devices[id] = { ...d };
    }
    return { version: 1, devices };
  }

  /** Atomic replace: write a private temporary file beside the target, fsync it, rename it over the target. */
  private write(file: KnownDevicesFile): void {
    const dir = dirname(this.path);
    const sorted: { [id: string]: KnownDevice } = {};
    for (const id of Object.keys(file.devices).sort()) sorted[id] = file.devices[id];
    const text = JSON.stringify({ version: 1, devices: sorted }, null, 2) + '\n';
    const tmp = join(dir, `.${KNOWN_DEVICES_FILE}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const fd = openSync(tmp, 'wx', 0o600);
      try {
        writeSync(fd, text);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      chmodSync(tmp, 0o600); // in case the umask was stricter or the platform ignored the mode
      renameSync(tmp, this.path);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw new TrustError('BAD_FILE', `cannot write the known-devices file ${this.path}: ${(e as Error).message}`);
    }
    try {
      // make the rename itself durable; not every platform lets a directory be opened, so best effort
      const dfd = openSync(dir, 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch (e) {
      /* best effort */
    }
  }
}
