// The client side of a connector link: `connector:PATH` (its unix socket) or `connector:127.0.0.1:PORT` (its loopback TCP port), binary frames as on any link (docs/connector.md §8).
import net from 'node:net';
import { HsmError } from '../errors.ts';
import type { HostTransport } from '../transports/types.ts';
import { SocketTransport } from '../transports/socket.ts';

const START_HINT = 'start one with `tinyhsm connector --socket PATH --device DEV`, or check the path in --device / HSM_DEVICE';

/** Where `connector:REST` points: a loopback `HOST:PORT`, else a unix socket path. */
export function connectorAddress(rest: string): { path: string } | { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d+\.\d+\.\d+\.\d+|localhost)):(\d{1,5})$/.exec(rest);
  if (m) return { host: m[1] !== undefined ? m[1] : m[2], port: Number(m[3]) };
  return { path: rest };
}

/** Open `connector:REST` (REST without the prefix); a NO_DEVICE error that names the connector when nothing serves it. */
export function openConnector(rest: string): Promise<HostTransport> {
  const where = rest;
  return new Promise((resolve, reject) => {
    if (rest === '')
      return reject(new HsmError('BAD_ARGUMENT', 'connector: needs the connector socket path or 127.0.0.1:PORT, e.g. connector:/run/tinyhsm.sock'));
    const addr = connectorAddress(rest);
    const sock = 'path' in addr ? net.createConnection({ path: addr.path }) : net.createConnection({ host: addr.host, port: addr.port });
    sock.once('connect', () => {
      sock.removeAllListeners('error');
      resolve(new SocketTransport(sock, where, 'binary', `the connector at ${where}`));
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED')
        reject(
          new HsmError('NO_DEVICE', `no connector at ${where}${e.code === 'ECONNREFUSED' && 'path' in addr ? ' (a stale socket file?)' : ''}`, {
            hint: START_HINT,
            cause: e,
          }),
        );
      else if (e.code === 'EACCES')
        reject(
          new HsmError('IO', `permission denied connecting to the connector at ${where}`, {
            hint: 'join the group the connector was started with (--group) and log in again',
            cause: e,
          }),
        );
      else reject(new HsmError('IO', `cannot connect to the connector at ${where}: ${e.message}`, { cause: e }));
    });
  });
}
