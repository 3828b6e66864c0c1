// Closing the secure sessions of a process that ends (ClientOptions.closeOnExit): on 'exit', and on a SIGINT, SIGTERM or SIGHUP that nobody else handles.
import { isMainThread } from 'node:worker_threads';

/** What is closed at exit: synchronously, for nothing asynchronous runs then. */
export interface ClosesOnExit {
  closeSync(): void;
}

const LIVE = new Set<ClosesOnExit>();
let exitHooked = false;

/** Close `c` when the process ends, unless forgetOnExit(c) comes first. */
export function closeOnExit(c: ClosesOnExit): void {
  LIVE.add(c);
  hookExit();
}

/** `c` was closed otherwise: nothing to do for it at exit. */
export function forgetOnExit(c: ClosesOnExit): void {
  LIVE.delete(c);
}

/**
 * On exit, and on a fatal signal nobody else handles, close every live client synchronously: seal SESSION_CLOSE
 * and write it where the link can write synchronously, and wipe PINs and session keys. A signal that the program
 * handles itself is left to it (its handler may still want the client); the 'exit' hook covers that case.
 */
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const c of [...LIVE]) c.closeSync();
  });
  if (!isMainThread) return; // signals reach the main thread only
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      if (process.listenerCount(sig) > 1) return;
      for (const c of [...LIVE]) c.closeSync();
      // die of the signal as if nobody had listened (exit status 128 + n)
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}
