// Small statistics the bench report generators share.

/** A TSV cell as a number; "NA", empty or missing is NaN. */
export const num = (v: string | undefined): number => (v === undefined || v === "NA" || v === "" ? NaN : Number(v));

/** The median of the numbers that are not NaN (NaN when there are none). */
export function median(xs: number[]): number {
  const a = xs.filter((x) => !Number.isNaN(x)).sort((x, y) => x - y);
  if (a.length === 0) return NaN;
  const m = a.length >> 1;
  return a.length % 2 ? a[m]! : (a[m - 1]! + a[m]!) / 2;
}
