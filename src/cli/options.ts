// Option parsers shared by commands.

/** For repeatable options: `-c a -c b` -> ["a", "b"]. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
