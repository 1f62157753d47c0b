/**
 * A step's input template, rendered within a size limit: `{{input}}`, `{{steps.<id>.output}}` and (in a
 * map) `{{item}}`. The size is added up from the parts before anything is joined, so a template that
 * repeats a large placeholder thousands of times is refused having cost a few length counts, not the
 * hundreds of megabytes its text would take.
 */
import { jsonBytes } from './workflow-limits.ts';

/** A step's result as conditions and templates see it. */
export interface StepResult {
  state: string;
  output: string;
}

export interface TemplateValues {
  input: string;
  results: Readonly<Record<string, StepResult>>;
  item?: string;
}

/** The text, or (over the limit) only the bytes it would have taken. */
export type Rendered = { ok: true; text: string } | { ok: false; bytes: number };

const PLACEHOLDER = /\{\{\s*(input|item|steps\.([a-z0-9_-]+)\.output)\s*\}\}/g;

/** What a placeholder stands for; a step that did not run (or an unknown one) is empty. */
const placeholderValue = (values: TemplateValues, whole: string, step: string | undefined): string => {
  if (whole === 'input') return values.input;
  if (whole === 'item') return values.item ?? '';
  return Object.hasOwn(values.results, step!) ? (values.results[step!]?.output ?? '') : '';
};

/** The bytes the rendered text takes in an event (an upper bound: each part counted on its own). */
export const renderedBytes = (template: string, values: TemplateValues): number => {
  const sizes = new Map<string, number>();
  const sizeOf = (text: string) => {
    const known = sizes.get(text);
    if (known !== undefined) return known;
    const size = jsonBytes(text);
    sizes.set(text, size);
    return size;
  };
  let total = 0;
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    total += sizeOf(template.slice(last, m.index)) + sizeOf(placeholderValue(values, m[1]!, m[2]));
    last = m.index + m[0].length;
  }
  return total + sizeOf(template.slice(last));
};

/** Renders the template if its text stays within `maxBytes`. */
export const renderWithin = (template: string, values: TemplateValues, maxBytes: number): Rendered => {
  const bytes = renderedBytes(template, values);
  if (bytes > maxBytes) return { ok: false, bytes };
  const text = template.replace(PLACEHOLDER, (_, whole: string, step?: string) =>
    placeholderValue(values, whole, step),
  );
  return { ok: true, text };
};

/** Renders without a limit (for text known to be small). */
export const renderInput = (
  template: string,
  input: string,
  results: Readonly<Record<string, StepResult>>,
  item = '',
): string => {
  const rendered = renderWithin(template, { input, results, item }, Number.POSITIVE_INFINITY);
  return rendered.ok ? rendered.text : '';
};
