// Socket transport: the simulator served with `tinyhsm sim --socket PATH` (a unix socket; no pty needed).
import net from 'node:net';
import { HsmError } from '../errors.ts';
import type { HostTransport } from './types.ts';

export class SocketTransport implements HostTransport {
  readonly description: string;
  private receiver: (b: Uint8Array) => void = () => {};
  private closeCb: ((reason?: Error) => void) | undefined;
  private closing = false;

  /**
   * A connected socket as a link. `peer` names what serves it in messages ("the simulator at PATH", "the connector at
   * PATH"); `description` is the address.
   */
  constructor(
    private readonly sock: net.Socket,
    path: string,
    readonly mode: 'binary' | 'armor',
    private readonly peer = `the simulator at ${path}`,
  ) {
    this.description = path;
    sock.on('data', (b: Buffer) => this.receiver(b));
    sock.on('error', () => {
      // followed by 'close'
    });
    sock.on('close', () => {
      if (!this.closing && this.closeCb) this.closeCb(new Error(`${this.peer} closed the connection`));
    });
  }

  static open(path: string, opts: { mode?: 'binary' | 'armor' } = {}): Promise<SocketTransport> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection({ path });
      sock.once('connect', () => {
        sock.removeAllListeners('error');
        resolve(new SocketTransport(sock, path, opts.mode === 'armor' ? 'armor' : 'binary'));
      });
      sock.once('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') reject(new HsmError('NO_DEVICE', `no socket at ${path}`, { cause: e }));
        else if (e.code === 'ECONNREFUSED') reject(new HsmError('NO_DEVICE', `nothing is serving ${path} (a stale socket file?)`, { cause: e }));
        else reject(new HsmError('IO', `cannot connect to ${path}: ${e.message}`, { cause: e }));
      });
    });
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.sock.destroyed) return reject(new HsmError('CLOSED', `the link to ${this.peer} is closed`));
      this.sock.write(bytes, (err) => (err ? reject(new HsmError('IO', `write to ${this.peer} failed: ${err.message}`, { cause: err })) : resolve()));
    });
  }

  onData(cb: (b: Uint8Array) => void): void {
    this.receiver = cb;
  }

  onClose(cb: (reason?: Error) => void): void {
    this.closeCb = cb;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.sock.destroyed) return;
    await new Promise<void>((resolve) => {
      this.sock.once('close', () => resolve());
      this.sock.destroy(); // every write has already completed: nothing is lost
    });
  }
}
