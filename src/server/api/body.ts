/** Request-body validation for the JSON API: zod schemas, one clear 400 naming each bad field. */
import type { Context } from 'hono';
import type { z } from 'zod';
import { InputError } from '../../core/errors.js';

/**
 * Parse the JSON body against `schema`. An empty body counts as `{}` (routes whose fields are
 * all optional accept a bare POST).
 */
export async function readBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const text = await c.req.text();
  let value: unknown = {};
  if (text.trim() !== '') {
    try {
      value = JSON.parse(text);
    } catch {
      throw new InputError('The request body is not valid JSON.');
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`);
    throw new InputError(`Invalid request body: ${issues.join('; ')}`);
  }
  return parsed.data;
}
