// Simulators (Node bundle, in this process) and HsmClients for the host-library tests: each test's are closed after it, and a simulator must end its test without a device fault.
import { afterEach, expect } from 'vitest';
import { HsmClient, InProcessTransport, type ClientOptions } from '../../host/index.ts';
import { Simulator, type SimulatorOptions } from '../../sim/index.ts';
import { SIM_SO_PIN, SIM_USER_PIN, nodeBundle } from './sim.ts';

export interface InProcessSims {
  /** A simulator, INITed with SIM_USER_PIN / SIM_SO_PIN (by a client of its own, closed again) unless `init` is false. */
  boot(opts?: SimulatorOptions, init?: { label?: string } | false): Promise<Simulator>;
  /** `c`, closed after the test. */
  track(c: HsmClient): HsmClient;
  /** A client on `sim`'s in-process link, closed after the test. */
  client(sim: Simulator, opts?: ClientOptions): HsmClient;
}

/** Call at the top of a test file: registers the afterEach that closes what the test made. */
export function inProcessSims(): InProcessSims {
  const sims: Simulator[] = [];
  const clients: HsmClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    for (const s of sims.splice(0)) {
      expect(s.deviceFaults).toEqual([]);
      s.close();
    }
  });
  const track = (c: HsmClient): HsmClient => {
    clients.push(c);
    return c;
  };
  return {
    async boot(opts: SimulatorOptions = {}, init: { label?: string } | false = {}): Promise<Simulator> {
      const sim = new Simulator({ bundlePath: await nodeBundle(), log: () => {}, ...opts });
      sims.push(sim);
      if (init !== false) {
        const c = new HsmClient(new InProcessTransport(sim, false));
        await c.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN, label: init.label });
        await c.close();
      }
      return sim;
    },
    track,
    client: (sim, opts = {}) => track(new HsmClient(new InProcessTransport(sim, false), opts)),
  };
}
