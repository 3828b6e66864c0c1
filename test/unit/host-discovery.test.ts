// Discovery where udev is absent (this machine, containers): it must list what exists and never throw.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { SerialPort } from 'serialport';
import { discoverDevices, listCandidatePorts, probePort } from '../../host/index.ts';

describe('discovery', () => {
  it('lists candidate ports without throwing, even when SerialPort.list() does', async () => {
    const listWorks = await SerialPort.list().then(
      () => true,
      () => false,
    );
    const ports = await listCandidatePorts();
    expect(Array.isArray(ports)).toBe(true);
    // whatever it lists exists and is a device path, found by the scan or by udev
    for (const p of ports) {
      expect(p.startsWith('/dev/')).toBe(true);
      expect(existsSync(p)).toBe(true);
    }
    // without udev every candidate comes from the /dev scan
    if (!listWorks) for (const p of ports) expect(p).toMatch(/^\/dev\/(ttyACM\d+|ttyUSB\d+|cu\.usb.*)$/);
  });

  it('returns only ports that answer INFO, and [] when none does', async () => {
    const found = await discoverDevices({ timeoutMs: 300 });
    expect(Array.isArray(found)).toBe(true);
    for (const d of found) expect(d.deviceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('a path that is not a tinyhsm is not confirmed, and nothing throws', async () => {
    expect(await probePort('/dev/null', 200)).toBeUndefined();
    expect(await probePort('/nonexistent/ttyACM9', 200)).toBeUndefined();
    expect(await discoverDevices({ candidates: ['/dev/null', '/nonexistent/ttyUSB0'], timeoutMs: 200 })).toEqual([]);
  });
});
