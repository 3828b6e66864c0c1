// Trust on first use (host/known-devices.ts): unknown devices need --trust, a changed identity is refused with an explanation, writes are atomic and private.
import { describe, it, expect, afterEach } from 'vitest';
import { chmodSync, chownSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { KnownDevices, TrustError, defaultKnownDevicesPath } from '../../host/known-devices.ts';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'tinyhsm-known-'));
  dirs.push(d);
  return d;
}
const id = () => new Uint8Array(randomBytes(16));
const key = () => new Uint8Array(randomBytes(32));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function trustError(f: () => unknown): TrustError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TrustError);
    return e as TrustError;
  }
  throw new Error('expected a TrustError');
}

describe('known devices', () => {
  it('an unknown device is refused without --trust (and nothing is written), pinned with it, then known', () => {
    const path = join(tmp(), 'sub', 'dir', 'known-devices.json');
    const kd = new KnownDevices(path);
    const d = id();
    const k = key();
    const e = trustError(() => kd.check(d, k));
    expect(e.code).toBe('UNKNOWN_DEVICE');
    expect(e.message).toContain('run again with --trust to pin it');
    expect(e.message).toContain(hex(d));
    expect(e.message).toContain(hex(k));
    expect(() => statSync(path)).toThrow();
    expect(kd.check(d, k, { trust: true, label: 'bench board', now: () => new Date('2025-01-02T03:04:05Z') })).toBe('new-trusted');
    expect(kd.check(d, k)).toBe('known');
    expect(kd.check(hex(d).toUpperCase(), hex(k))).toBe('known'); // hex strings, any case
    expect(new KnownDevices(path).get(d)).toEqual({ identityKey: hex(k), firstSeen: '2025-01-02T03:04:05.000Z', label: 'bench board' });
    const json = JSON.parse(readFileSync(path, 'utf8'));
    expect(json).toEqual({ version: 1, devices: { [hex(d)]: { identityKey: hex(k), firstSeen: '2025-01-02T03:04:05.000Z', label: 'bench board' } } });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('a changed identity key is refused, even with --trust, with a message that says what happened and what to do', () => {
    const path = join(tmp(), 'known-devices.json');
    const kd = new KnownDevices(path);
    const d = id();
    const k1 = key();
    const k2 = key();
    kd.check(d, k1, { trust: true, now: () => new Date('2024-06-01T00:00:00Z') });
    const before = readFileSync(path, 'utf8');
    for (const trust of [false, true]) {
      const e = trustError(() => kd.check(d, k2, { trust }));
      expect(e.code).toBe('IDENTITY_CHANGED');
      expect(e.message).toContain(`the identity key of device ${hex(d)} changed since 2024-06-01T00:00:00.000Z`);
      expect(e.message).toContain('reset or replaced');
      expect(e.message).toContain('something is impersonating it');
      expect(e.message).toContain(`remove its entry ("${hex(d)}") from ${path}`);
    }
    expect(readFileSync(path, 'utf8')).toBe(before); // the pin is untouched
    // the owner reset it: forget, then pin the new key
    expect(kd.forget(d)).toBe(true);
    expect(kd.forget(d)).toBe(false);
    expect(kd.check(d, k2, { trust: true })).toBe('new-trusted');
    expect(kd.check(d, k2)).toBe('known');
  });

  it('keeps every device when adding one; rewrites atomically (new inode, no temporary files left) and stays 0600', () => {
    const dir = tmp();
    const path = join(dir, 'known-devices.json');
    const kd = new KnownDevices(path);
    const pins = Array.from({ length: 5 }, () => ({ d: id(), k: key() }));
    let ino = -1;
    for (const p of pins) {
      expect(kd.check(p.d, p.k, { trust: true })).toBe('new-trusted');
      const st = statSync(path);
      expect(st.ino).not.toBe(ino); // replaced by rename, never rewritten in place
      ino = st.ino;
      expect(st.mode & 0o777).toBe(0o600);
    }
    for (const p of pins) expect(kd.check(p.d, p.k)).toBe('known');
    expect(Object.keys(kd.list()).sort()).toEqual(pins.map((p) => hex(p.d)).sort());
    expect(readdirSync(dir)).toEqual(['known-devices.json']);
  });

  it('a damaged file is reported, never overwritten (that would forget every pin)', () => {
    const path = join(tmp(), 'known-devices.json');
    const cases = ['{not json', '[]', '{"version":2,"devices":{}}', '{"version":1,"devices":{"zz":{"identityKey":"00","firstSeen":"x"}}}'];
    for (const text of cases) {
      writeFileSync(path, text);
      const e = trustError(() => new KnownDevices(path).check(id(), key(), { trust: true }));
      expect(e.code).toBe('BAD_FILE');
      expect(e.message).toContain(path);
      expect(readFileSync(path, 'utf8')).toBe(text);
    }
  });

  it.runIf(process.platform !== 'win32')(
    'a file or directory that others can write is refused (as ssh StrictModes), with the chmod that fixes it; nothing is pinned',
    () => {
      const dir = tmp();
      const path = join(dir, 'known-devices.json');
      const kd = new KnownDevices(path);
      const d = id();
      const k = key();
      expect(kd.check(d, k, { trust: true })).toBe('new-trusted');
      expect(kd.check(d, k)).toBe('known');
      const before = readFileSync(path, 'utf8');
      for (const [mode, who] of [
        [0o666, 'others'],
        [0o620, 'its group'],
      ] as const) {
        chmodSync(path, mode);
        const e = trustError(() => kd.check(d, k));
        expect(e.code).toBe('BAD_FILE');
        expect(e.message).toContain(`writable by ${who}`);
        expect(e.message).toContain(`chmod go-w ${path}`);
        expect(trustError(() => kd.check(id(), key(), { trust: true })).code).toBe('BAD_FILE');
        expect(readFileSync(path, 'utf8')).toBe(before);
      }
      chmodSync(path, 0o600);
      chmodSync(dir, 0o777);
      const e = trustError(() => kd.check(d, k));
      expect(e.message).toContain(`directory ${dir} is writable by others`);
      // a sticky directory (like /tmp) is fine: others cannot replace a file they do not own there
      chmodSync(dir, 0o1777);
      expect(kd.check(d, k)).toBe('known');
      chmodSync(dir, 0o700);
      expect(kd.check(d, k)).toBe('known');
    },
  );

  it.runIf(typeof process.getuid === 'function' && process.getuid() === 0)('a file that belongs to another user is refused', () => {
    const path = join(tmp(), 'known-devices.json');
    const kd = new KnownDevices(path);
    const d = id();
    const k = key();
    kd.check(d, k, { trust: true });
    chownSync(path, 4321, 4321);
    const e = trustError(() => kd.check(d, k));
    expect(e.code).toBe('BAD_FILE');
    expect(e.message).toContain('belongs to another user (uid 4321)');
  });

  it('refuses malformed ids and keys as programming errors', () => {
    const kd = new KnownDevices(join(tmp(), 'k.json'));
    expect(() => kd.check(new Uint8Array(15), key())).toThrow(/device id/);
    expect(() => kd.check(id(), new Uint8Array(33))).toThrow(/identity key/);
    expect(() => kd.check('xyz', key())).toThrow(/device id/);
  });

  it('an unwritable location gives BAD_FILE with the path', () => {
    const dir = tmp();
    const blocker = join(dir, 'file');
    writeFileSync(blocker, 'x');
    const path = join(blocker, 'known-devices.json'); // a "directory" that is a file
    const e = trustError(() => new KnownDevices(path).check(id(), key(), { trust: true }));
    expect(e.code).toBe('BAD_FILE');
    expect(e.message).toContain(path);
  });

  it('the default path: HSM_KNOWN_DEVICES, then an absolute XDG_CONFIG_HOME, then ~/.config', () => {
    expect(defaultKnownDevicesPath({ HSM_KNOWN_DEVICES: '/x/k.json', XDG_CONFIG_HOME: '/cfg' }, '/home/u', 'linux')).toBe('/x/k.json');
    expect(defaultKnownDevicesPath({ XDG_CONFIG_HOME: '/cfg' }, '/home/u', 'linux')).toBe('/cfg/tinyhsm/known-devices.json');
    expect(defaultKnownDevicesPath({ XDG_CONFIG_HOME: 'relative/cfg' }, '/home/u', 'linux')).toBe('/home/u/.config/tinyhsm/known-devices.json');
    expect(defaultKnownDevicesPath({}, '/home/u', 'linux')).toBe('/home/u/.config/tinyhsm/known-devices.json');
    expect(defaultKnownDevicesPath({}, '/Users/u', 'darwin')).toBe('/Users/u/.config/tinyhsm/known-devices.json');
    // a directory that already exists is fine
    const d = tmp();
    mkdirSync(join(d, 'tinyhsm'));
    const kd = new KnownDevices(defaultKnownDevicesPath({ XDG_CONFIG_HOME: d }));
    expect(kd.check(id(), key(), { trust: true })).toBe('new-trusted');
  });
});
