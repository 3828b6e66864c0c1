// Finds boards: candidate serial ports (SerialPort.list, or a /dev scan where udev is absent), each confirmed with INFO (docs/architecture.md §7).
import { readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { toHex } from '../firmware/protocol/index.ts';
import { HsmClient, algName } from './client.ts';
import { SerialTransport } from './transports/serial.ts';

/** A port that answered INFO like a tinyhsm. Plain JSON-friendly values (hex strings, names). */
export interface DiscoveredDevice {
  path: string;
  linkMode: 'binary' | 'armor';
  deviceId: string;
  firmwareVersion: string;
  platform: string;
  algorithms: string[];
}

export interface DiscoveryOptions {
  /** How long each port gets to answer INFO in each link mode (ms). Default 700. */
  timeoutMs?: number;
  /** Ports to try instead of listing them (tests). */
  candidates?: string[];
}

/** Device files that look like USB serial boards, from a directory listing (no udev needed). */
function scanDev(): string[] {
  const out: string[] = [];
  const add = (dir: string, re: RegExp) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return; // no such directory on this OS
    }
    for (const n of names.sort()) if (re.test(n)) out.push(join(dir, n));
  };
  add('/dev/serial/by-id', /./);
  add('/dev', /^(ttyACM\d+|ttyUSB\d+|cu\.usbmodem.*|cu\.usbserial.*)$/);
  return out;
}

/**
 * Candidate serial ports, deduplicated by their real path. SerialPort.list() needs udev on Linux and
 * throws without it (containers, minimal systems): then, and in addition, /dev is scanned.
 */
export async function listCandidatePorts(): Promise<string[]> {
  const paths: string[] = [];
  try {
    for (const p of await SerialPort.list()) if (p.path) paths.push(p.path);
  } catch {
    // no udev: fall back to the scan below
  }
  paths.push(...scanDev());
  const seen = new Set<string>();
  const out: string[] = [];
  for (const p of paths) {
    let real = p;
    try {
      real = realpathSync(p);
    } catch {
      continue; // vanished while we looked
    }
    if (seen.has(real)) continue;
    seen.add(real);
    out.push(real);
  }
  return out;
}

/**
 * Ask one port for INFO. The text armor goes first: it is printable, so a Kaluma REPL or a modem sees
 * a harmless line, while a binary frame could carry 0x03 (Ctrl-C, which stops Kaluma's program).
 * Returns undefined when nothing answered like a tinyhsm; never throws.
 */
export async function probePort(path: string, timeoutMs = 700): Promise<DiscoveredDevice | undefined> {
  for (const mode of ['armor', 'binary'] as const) {
    let client: HsmClient | undefined;
    try {
      client = new HsmClient(await SerialTransport.open(path, { mode }), { timeoutMs, retries: 0 });
      const info = await client.info();
      return {
        path,
        linkMode: mode,
        deviceId: toHex(info.deviceId),
        firmwareVersion: info.firmwareVersion,
        platform: info.platform,
        algorithms: info.algorithms.map(algName),
      };
    } catch {
      // not a tinyhsm in this mode, busy, or not ours to open
    } finally {
      if (client) await client.close().catch(() => {});
    }
  }
  return undefined;
}

/** Every candidate port that answers INFO, in port order. Never throws; [] when there is none. */
export async function discoverDevices(opts: DiscoveryOptions = {}): Promise<DiscoveredDevice[]> {
  let candidates: string[];
  try {
    candidates = opts.candidates || (await listCandidatePorts());
  } catch {
    return [];
  }
  const found = await Promise.all(candidates.map((p) => probePort(p, opts.timeoutMs).catch(() => undefined)));
  return found.filter((d): d is DiscoveredDevice => d !== undefined);
}
