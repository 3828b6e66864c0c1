// The simulator's public API: the Simulator (in-process), the link exposures and the `tinyhsm sim` command.
export { Simulator } from './simulator.ts';
export type { SimulatorOptions, DeviceFault, Direction } from './simulator.ts';
export { LinkFaults, FaultPipe } from './link.ts';
export { createRandomSource, parseSeed } from './rng.ts';
export { servePty, serveSocket } from './expose.ts';
export type { Exposure } from './expose.ts';
export { runSimCommand, SIM_USAGE } from './main.ts';
export { locateNodeBundle } from './locate.ts';
