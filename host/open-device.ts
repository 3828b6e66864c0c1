// Which transport a device string names (docs/architecture.md §7): "sim", "unix:PATH", "armor:PATH", "connector:PATH", a socket or serial path, $HSM_DEVICE, or the first port discovery finds.
import { stat } from 'node:fs/promises';
import { HsmError } from './errors.ts';
import type { HostTransport } from './transports/types.ts';
import { SerialTransport } from './transports/serial.ts';
import { SocketTransport } from './transports/socket.ts';
import { InProcessTransport } from './transports/inprocess.ts';
import { discoverDevices } from './discovery.ts';
import { openConnector } from './connector/client-transport.ts';

/** How to open the transport (OpenOptions adds the client's options). */
export interface DeviceOptions {
  /** Serial links: 'armor' for Kaluma boards. Also used for the in-process simulator. */
  linkMode?: 'binary' | 'armor';
  baudRate?: number;
  /** In-process simulator ('sim'): deterministic RNG seed (hex), bundle path, max packet. */
  seed?: string;
  bundlePath?: string;
  simMaxPacket?: number;
  /** In-process simulator: crypto on node:crypto instead of the device's noble (`tinyhsm sim --fast`; INFO says 'node-sim-fast'). */
  simFast?: boolean;
}

/** The transport `device` names, else $HSM_DEVICE, else the one discovery finds (see HsmClient.open). */
export function openDevice(device: string | undefined, opts: DeviceOptions = {}): Promise<HostTransport> {
  const spec = device !== undefined && device !== '' ? device : process.env.HSM_DEVICE || undefined;
  return openTransport(spec, opts);
}

/** Pick and open the transport a device string names (see HsmClient.open). */
export async function openTransport(spec: string | undefined, opts: DeviceOptions = {}): Promise<HostTransport> {
  if (spec === undefined) {
    const found = await discoverDevices();
    if (found.length === 0)
      throw new HsmError('NO_DEVICE', 'no device given and no tinyhsm found on the serial ports', {
        hint: 'pass --device PATH or set HSM_DEVICE (a serial port, a pty from `tinyhsm sim --pty`, a unix socket, or "sim")',
      });
    return SerialTransport.open(found[0].path, { baudRate: opts.baudRate, mode: found[0].linkMode });
  }
  if (spec === 'sim')
    return await InProcessTransport.start({
      seed: opts.seed,
      linkMode: opts.linkMode,
      bundlePath: opts.bundlePath,
      maxPacket: opts.simMaxPacket,
      fast: opts.simFast,
    });
  if (spec.startsWith('connector:')) return openConnector(spec.slice(10));
  if (spec.startsWith('unix:')) return SocketTransport.open(spec.slice(5), { mode: opts.linkMode });
  if (spec.startsWith('armor:')) return SerialTransport.open(spec.slice(6), { baudRate: opts.baudRate, mode: 'armor' });
  let st;
  try {
    st = await stat(spec);
  } catch {
    throw new HsmError('NO_DEVICE', `${spec} does not exist`, {
      hint: 'give a serial port (/dev/ttyACM0), the pty `tinyhsm sim --pty` printed, a unix socket, or "sim"',
    });
  }
  if (st.isSocket()) return SocketTransport.open(spec, { mode: opts.linkMode });
  return SerialTransport.open(spec, { baudRate: opts.baudRate, mode: opts.linkMode });
}
