// A HostTransport over an engine process's standard input and output: the engine's stdin/stdout is the board's USB CDC.
import type { ChildProcess } from 'node:child_process';
import { HsmError } from '../../host/errors.ts';
import type { HostTransport } from '../../host/transports/types.ts';

export class ChildTransport implements HostTransport {
  private receiver: (b: Uint8Array) => void = () => {};
  private closeCb: ((reason?: Error) => void) | undefined;
  private closing = false;

  constructor(
    private readonly child: ChildProcess,
    readonly mode: 'binary' | 'armor',
    readonly description: string,
  ) {
    if (!child.stdin || !child.stdout) throw new Error('ChildTransport needs a child spawned with stdio pipes');
    child.stdout.on('data', (b: Buffer) => this.receiver(new Uint8Array(b.buffer, b.byteOffset, b.length)));
    child.stdin.on('error', () => {
      // the exit handler reports it
    });
    child.on('exit', (code, signal) => {
      if (!this.closing && this.closeCb) this.closeCb(new Error(`${description}: the engine exited (${signal ?? code})`));
    });
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      const stdin = this.child.stdin;
      if (!stdin || stdin.destroyed || this.child.exitCode !== null) return reject(new HsmError('CLOSED', `${this.description} is not running`));
      stdin.write(bytes, (err) => (err ? reject(new HsmError('IO', `write to ${this.description} failed: ${err.message}`, { cause: err })) : resolve()));
    });
  }

  onData(cb: (b: Uint8Array) => void): void {
    this.receiver = cb;
  }

  onClose(cb: (reason?: Error) => void): void {
    this.closeCb = cb;
  }

  /** Stops listening; the engine process itself is ended by its launcher (EngineDevice.powerOff). */
  async close(): Promise<void> {
    this.closing = true;
    this.receiver = () => {};
  }
}
