// The contract between the engine suite (test/engines/suite.ts) and each real engine's launcher (Kaluma/JerryScript, Espruino, XS).
//
// A launcher starts the firmware inside a real engine built from its upstream sources (tools/engines/) and hands
// the suite a HostTransport to the board's link, so the project's own HsmClient drives it through real frames.
// A board claim is only ever shown by one of these: a Node emulation of a board's globals proves nothing about
// the board (docs/boards.md).
import type { HostTransport } from '../../host/transports/types.ts';

/** Memory figures an engine reports about one run of the firmware (one "power-on" to "power-off"). */
export interface EngineStats {
  /** Which engine and profile, e.g. 'kaluma-256-snapshot', 'espruino-12000', 'xs'. */
  engine: string;
  /** 'bytes' for JerryScript and XS, 'jsvars' for Espruino (each JsVar is 13–16 bytes on a board). */
  unit: 'bytes' | 'jsvars';
  /** The engine's whole heap (JerryScript's JERRY_GLOBAL_HEAP_SIZE, Espruino's JsVar count); undefined where unbounded (XS). */
  heap?: number;
  /** Highest heap use seen during the run (jerry_get_memory_stats peak_allocated_bytes, Espruino's highest JsVars in use, XS's peak). */
  peak: number;
  /** Heap in use once the program's top level finished (after load, before the first request), where the engine can tell. */
  afterLoad?: number;
  /** Anything else the engine measured (e.g. bytecode bytes, JsVar size in bytes). */
  extra?: Record<string, number | string>;
}

/** One running firmware in one engine. */
export interface EngineDevice {
  /** The board's link (its USB CDC): 'armor' or 'binary' as the bundle on this engine speaks. */
  readonly transport: HostTransport;
  /** Text the engine printed outside the link (console, errors), for failure messages. */
  diagnostics(): string;
  /**
   * Power off: the firmware gets no chance to run (SIGTERM to the engine process, whose C side only writes its
   * statistics). Resolves with what the engine measured over the whole run.
   */
  powerOff(): Promise<EngineStats>;
}

export interface EngineProfile {
  /** e.g. 'kaluma-256', 'kaluma-180', 'espruino-12000', 'xs'. */
  readonly name: string;
  /** Why this engine cannot run here (sources or build missing), or undefined when it can. */
  unavailable(): string | undefined;
  /** Power on with the board's flash kept in `flashFile` (created factory-erased when absent). */
  powerOn(opts: { flashFile: string }): Promise<EngineDevice>;
}
