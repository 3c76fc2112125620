// Option parsers shared by commands.

/** For repeatable options: `-c a -c b` -> ["a", "b"]. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
