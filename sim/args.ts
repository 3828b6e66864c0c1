// Command-line mistakes as one short line, for `tinyhsm` and `tinyhsm sim` alike (README "Using the CLI": a bad flag is one line and exit 2, not the whole usage).

/** Edit distance with a swap of two neighbours counting as one edit ("sing" is one from "sign"), for "did you mean". */
export function distance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    d.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        d[0].push(j);
        continue;
      }
      let v = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2][j - 2] + 1);
      d[i].push(v);
    }
  }
  return d[a.length][b.length];
}

/** The name of `names` nearest to `typed` (at most two edits away, or starting with it), if one is. */
export function nearest(typed: string, names: readonly string[]): string | undefined {
  const near = names
    .map((n) => [n, distance(typed, n)] as const)
    .filter(([n, d]) => d <= 2 || n.startsWith(typed))
    .sort((x, y) => x[1] - y[1]);
  return near.length > 0 ? near[0][0] : undefined;
}

/**
 * What node:util parseArgs threw, in one line that names the flag and ends pointing at `help` (the command's --help):
 * Node's own text goes on about passing a positional that begins with '-', which is not what a mistyped or incomplete
 * flag needs. `options` are the flags the command knows (without the dashes), for a "did you mean".
 */
export function argsErrorText(e: unknown, options: readonly string[], help: string): string {
  const text = argsProblem(e, options);
  return `${text}${text.endsWith('?') ? '' : '.'} See \`${help}\`.`;
}

function argsProblem(e: unknown, options: readonly string[]): string {
  const err = e as { code?: string; message?: string };
  const msg = String(err.message ?? e);
  const flag = /'(-[^' ]+)/.exec(msg)?.[1];
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag) {
    const near = flag.startsWith('--') ? nearest(flag.slice(2), options) : undefined;
    return `unknown option ${flag}${near ? `. Did you mean --${near}?` : ''}`;
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag) {
    if (/does not take an argument/.test(msg)) return `${flag} takes no value`;
    if (/ambiguous/.test(msg)) return `${flag} needs a value (one that begins with - goes as ${flag}=-VALUE)`;
    return `${flag} needs a value`;
  }
  if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const arg = /'([^']*)'/.exec(msg)?.[1];
    return `unexpected argument${arg !== undefined ? ` "${arg}"` : ''}: this command takes flags only`;
  }
  return msg.split('\n')[0];
}
