// In-process transport: a simulator running in this Node process (device "sim"), the fastest link and the one tests use most.
//
// The simulator (sim/, and with it node:vm and the firmware bundle) is loaded only when start() boots one: a program
// that uses the driver with a serial port or a socket never loads it (test/unit/host-imports.test.ts).
import type { Simulator, SimulatorOptions } from '../../sim/simulator.ts';
import { HsmError } from '../errors.ts';
import type { HostTransport } from './types.ts';

/** What the transport needs of an in-process device (sim/simulator.ts Simulator has it). */
export interface InProcessDevice {
  readonly linkMode: 'binary' | 'armor';
  readonly isClosed: boolean;
  write(bytes: Uint8Array): void;
  /** Register a listener for the device's bytes; returns what removes it. */
  onData(cb: (b: Uint8Array) => void): () => void;
  close(): void;
}

export class InProcessTransport<D extends InProcessDevice = InProcessDevice> implements HostTransport {
  readonly mode: 'binary' | 'armor';
  readonly description = 'sim';
  /** This process made the device (see HostTransport.selfHosted). */
  readonly selfHosted = true;
  private receiver: (b: Uint8Array) => void = () => {};
  private readonly off: () => void;
  private closed = false;

  /** `owns`: close the simulator when the transport closes (true when this transport booted it). */
  constructor(
    readonly sim: D,
    private readonly owns = false,
  ) {
    this.mode = sim.linkMode;
    this.off = sim.onData((b) => this.receiver(b));
  }

  /** Boot a fresh simulator (RAM only: its keys vanish when it closes), loading sim/ now. */
  static async start(opts: SimulatorOptions = {}): Promise<InProcessTransport<Simulator>> {
    const { Simulator: Sim } = await import('../../sim/simulator.ts');
    return new InProcessTransport(new Sim(opts), true);
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
