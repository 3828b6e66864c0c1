// In-process transport: a simulator running in this Node process (device "sim"), the fastest link and the one tests use most.
import { Simulator, type SimulatorOptions } from '../../sim/simulator.ts';
import { HsmError } from '../errors.ts';
import type { HostTransport } from './types.ts';

export class InProcessTransport implements HostTransport {
  readonly mode: 'binary' | 'armor';
  readonly description = 'sim';
  /** This process made the device (see HostTransport.selfHosted). */
  readonly selfHosted = true;
  private receiver: (b: Uint8Array) => void = () => {};
  private readonly off: () => void;
  private closed = false;

  /** `owns`: close the simulator when the transport closes (true when this transport booted it). */
  constructor(
    readonly sim: Simulator,
    private readonly owns = false,
  ) {
    this.mode = sim.linkMode;
    this.off = sim.onData((b) => this.receiver(b));
  }

  /** Boot a fresh simulator (RAM only: its keys vanish when it closes). */
  static start(opts: SimulatorOptions = {}): InProcessTransport {
    return new InProcessTransport(new Simulator(opts), true);
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.closed || this.sim.isClosed) throw new HsmError('CLOSED', 'the in-process simulator is closed');
    this.sim.write(bytes);
  }

  /** The simulator takes bytes synchronously anyway (HostTransport.writeSync). */
  writeSync(bytes: Uint8Array): void {
    if (this.closed || this.sim.isClosed) throw new HsmError('CLOSED', 'the in-process simulator is closed');
    this.sim.write(bytes);
  }

  onData(cb: (b: Uint8Array) => void): void {
    this.receiver = cb;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.off();
    if (this.owns) this.sim.close();
  }
}
