// How the reports write numbers: a dash where there is none to show.

export const fixed = (value: number, digits: number) =>
  Number.isFinite(value) ? value.toFixed(digits) : '—';

/** a ÷ b as "1.23×"; a dash when either is missing or b is 0. */
export const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? '—' : `${fixed(a / b, 2)}×`;
