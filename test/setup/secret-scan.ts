// Vitest setup file (vitest.config.ts setupFiles), run in every test file: after the file's tests, the response scan of docs/security.md §5 (test/helpers/secret-spy.ts).
//
// Every secret a loopback device handed its Crypto in this file is searched for in every byte it wrote, every
// inner response body a host session opened, and every NorFlash image made or written; a hit fails the file with
// the command whose response leaked. Files without loopback devices record nothing and scan nothing.
// SECRET_SCAN_TIMING=1 prints how long each file's scan took (the whole suite must stay well under 5 minutes).
import { afterAll } from 'vitest';
import { HostSession } from '../../host/session.ts';
import { NorFlash } from '../helpers/nor-flash.ts';
import { describeLeak, resetSpy, scanAll, setSpyEnabled, watchHostSessions, watchNorFlash } from '../helpers/secret-spy.ts';

watchHostSessions(HostSession.prototype);
watchNorFlash(NorFlash);

// registered before the file's own hooks, so it runs after them (vitest runs afterAll hooks in reverse order)
afterAll(() => {
  setSpyEnabled(false);
  const t0 = performance.now();
  try {
    const leaks = scanAll();
    if (leaks.length > 0) {
      const lines = leaks.slice(0, 20).map(describeLeak);
      if (leaks.length > 20) lines.push('… and ' + (leaks.length - 20) + ' more');
      throw new Error('secret scan (docs/security.md §5): a device gave away key material\n' + lines.join('\n'));
    }
  } finally {
    if (process.env.SECRET_SCAN_TIMING) console.log('SCAN-TIMING ' + Math.round(performance.now() - t0) + ' ms');
    resetSpy();
    setSpyEnabled(true);
  }
});
