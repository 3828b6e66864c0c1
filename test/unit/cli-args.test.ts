// The CLI's argument pre-pass: a value beginning with "-" and a digit after an option that takes one (ssh-keygen's `-V -5m:+1h`) is that option's value, and nothing else changes.
import { describe, expect, it } from 'vitest';
import { attachDashValues } from '../../tools/cli.ts';

describe('attachDashValues', () => {
  it('joins a "-digit" value to the string option before it, by short or long name', () => {
    expect(attachDashValues(['ssh-ca', 'sign', '-V', '-5m:+1h', '-n', 'alice'])).toEqual(['ssh-ca', 'sign', '--validity=-5m:+1h', '-n', 'alice']);
    expect(attachDashValues(['--validity', '-1d:+52w'])).toEqual(['--validity=-1d:+52w']);
    expect(attachDashValues(['--count', '-3'])).toEqual(['--count=-3']);
  });

  it('leaves flags, attached values, other dashes and everything after -- as they are', () => {
    const same = [
      ['-V=-5m:+1h'],
      ['-V-5m:+1h'],
      ['--force', '-5'], // a boolean takes no value: -5 stays a flag, which parseArgs then refuses
      ['--out', '-'], // "-" alone is a value parseArgs already takes
      ['--out', '--json'],
      ['--', '-V', '-5m'],
      ['-V'],
      ['-x', '-5'], // no such short option
    ];
    for (const args of same) expect(attachDashValues(args), args.join(' ')).toEqual(args);
  });
});
