// Serial transport: a board's USB CDC port or the simulator's pty, opened with `serialport` (raw binary frames or the text armor).
import { SerialPort } from 'serialport';
import { HsmError } from '../errors.ts';
import type { HostTransport } from './types.ts';

export interface SerialOptions {
  /** Default 115200 (USB CDC ignores it; a hardware UART needs it to match). */
  baudRate?: number;
  /** 'armor' for Kaluma boards (their REPL owns USB CDC), 'binary' otherwise. */
  mode?: 'binary' | 'armor';
}

function openError(path: string, e: NodeJS.ErrnoException | Error): HsmError {
  const msg = e.message || String(e);
  if (/ENOENT|No such file/i.test(msg)) return new HsmError('NO_DEVICE', `${path} does not exist`, { cause: e });
  if (/EACCES|Permission denied/i.test(msg))
    return new HsmError('IO', `permission denied opening ${path}`, { hint: 'add yourself to the group that owns the port (dialout or uucp) and log in again', cause: e });
  if (/lock|EBUSY|Resource temporarily unavailable/i.test(msg))
    return new HsmError('IO', `${path} is in use by another program`, { hint: 'close the other program (a terminal, another tinyhsm) and retry', cause: e });
  return new HsmError('IO', `cannot open ${path}: ${msg}`, { cause: e });
}

export class SerialTransport implements HostTransport {
  readonly mode: 'binary' | 'armor';
  readonly description: string;
  private receiver: (b: Uint8Array) => void = () => {};
  private closeCb: ((reason?: Error) => void) | undefined;
  private closing = false;

  private constructor(private readonly port: SerialPort, path: string, mode: 'binary' | 'armor') {
    this.mode = mode;
    this.description = path;
    port.on('data', (b: Buffer) => this.receiver(b));
    port.on('error', () => {
      // surfaced through 'close' or the failing write
    });
    port.on('close', (err?: Error) => {
      if (!this.closing && this.closeCb) this.closeCb(err || new Error(`${path} closed`));
    });
  }

  /** Open `path` raw (8N1, no flow control, no echo: serialport's defaults). */
  static async open(path: string, opts: SerialOptions = {}): Promise<SerialTransport> {
    const port = new SerialPort({ path, baudRate: opts.baudRate || 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(openError(path, err)) : resolve())));
    return new SerialTransport(port, path, opts.mode === 'armor' ? 'armor' : 'binary');
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.port.isOpen) return reject(new HsmError('CLOSED', `${this.description} is closed`));
      this.port.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (err) =>
        err ? reject(new HsmError('IO', `write to ${this.description} failed: ${err.message}`, { cause: err })) : resolve(),
      );
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
    if (!this.port.isOpen) return;
    await new Promise<void>((resolve) => this.port.close(() => resolve()));
  }
}
