// A small, strict flag parser: `--name value`, `--name=value` and boolean `--flag`. Unknown
// flags are errors, so a typo never silently falls back to a default.

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagSpec {
  /** Flags that take no value. */
  booleans?: readonly string[];
  /** Flags that take a value. */
  values?: readonly string[];
}

export type ParsedFlags = Map<string, string | true>;

export function parseFlags(argv: readonly string[], spec: FlagSpec): ParsedFlags {
  const booleans = new Set(spec.booleans ?? []);
  const values = new Set(spec.values ?? []);
  const flags: ParsedFlags = new Map();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"`);
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (booleans.has(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else if (values.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    } else {
      throw new UsageError(`unknown flag --${name}`);
    }
  }
  return flags;
}

export function stringFlag(flags: ParsedFlags, name: string, fallback?: string): string {
  const value = flags.get(name);
  if (typeof value === 'string') return value;
  if (fallback !== undefined) return fallback;
  throw new UsageError(`--${name} is required`);
}

export function integerFlag(
  flags: ParsedFlags,
  name: string,
  fallback: number,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const value = flags.get(name);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (
    typeof value !== 'string' ||
    !/^\d+$/.test(value) ||
    parsed < min ||
    parsed > max ||
    !Number.isSafeInteger(parsed)
  ) {
    throw new UsageError(
      max === Number.MAX_SAFE_INTEGER
        ? `--${name} must be an integer >= ${min}`
        : `--${name} must be an integer from ${min} to ${max}`,
    );
  }
  return parsed;
}
