/**
 * What a log line may carry of a payload: short text. A log line that holds a whole step input, an event or
 * a driver's error with its query parameters can be hundreds of megabytes (it happened: 600 MB lines), so
 * logging calls pass errors through `safeErr` and anything payload-sized through `forLog`. Sizes in
 * messages read as `formatBytes` writes them.
 */

/** `512 bytes`, `64 KiB`, `1 MiB`, `143.1 MiB`: a size as a reader wants it. */
export const formatBytes = (bytes: number): string => {
  const units: Array<[number, string]> = [
    [1024 ** 3, 'GiB'],
    [1024 ** 2, 'MiB'],
    [1024, 'KiB'],
  ];
  for (const [size, unit] of units) {
    if (bytes < size) continue;
    const n = bytes / size;
    return `${Number(n.toFixed(1))} ${unit}`;
  }
  return `${bytes} bytes`;
};

/** The longest text a log line keeps of one value. */
export const LOG_TEXT_MAX = 2048;

/** At most `max` characters of `text`, saying how many were left out. */
export const truncateText = (text: string, max = LOG_TEXT_MAX): string => {
  if (text.length <= max) return text;
  // Never half of a surrogate pair: a lone surrogate is not valid text (nor storable JSON).
  const end = /[\uD800-\uDBFF]/.test(text[max - 1] ?? '') ? max - 1 : max;
  return `${text.slice(0, end)}… (${text.length - end} more characters)`;
};

/** Any value as at most `max` characters of its JSON (or its string form). */
export const forLog = (value: unknown, max = LOG_TEXT_MAX): string => {
  if (typeof value === 'string') return truncateText(value, max);
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // circular or a BigInt: its string form will do
  }
  return truncateText(text ?? String(value), max);
};

/**
 * An error as a log line carries it: type, code, message and stack, each cut to size, and none of its other
 * properties (a driver's error may hold the statement's parameters, a command error its whole input).
 */
export const safeErr = (error: unknown): Record<string, unknown> => {
  // No prototype: pino's error serializer then names it by `name` (not "Object"), as it would the error.
  const safe: Record<string, unknown> = Object.create(null);
  if (!(error instanceof Error)) return Object.assign(safe, { message: forLog(error) });
  const code = (error as { code?: unknown }).code;
  return Object.assign(safe, {
    name: error.name,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    message: truncateText(error.message),
    ...(error.stack ? { stack: truncateText(error.stack, 2 * LOG_TEXT_MAX) } : {}),
  });
};
