// The simulator's public API: the Simulator (in-process), the link exposures and the `tinyhsm sim` command.
export { Simulator } from './simulator.ts';
export type { SimulatorOptions, DeviceFault, Direction, PowerCutInfo } from './simulator.ts';
export {
  SimFlash,
  PowerCutFlash,
  FlashBugError,
  PowerCutError,
  checkFlashAccess,
  checkNorBits,
  SIM_PAGE_SIZE,
  SIM_WORD_SIZE,
  DEFAULT_FLASH_PAGES,
  MIN_FLASH_PAGES,
  MAX_FLASH_PAGES,
} from './flash.ts';
export type { SimFlashOpenOptions, SimFlashMemoryOptions } from './flash.ts';
export { LinkFaults, FaultPipe } from './link.ts';
export { createRandomSource, parseSeed } from './rng.ts';
export { servePty, serveSocket } from './expose.ts';
export type { Exposure } from './expose.ts';
export { runSimCommand, SIM_USAGE, POWER_CUT_EXIT } from './main.ts';
export { locateNodeBundle } from './locate.ts';
