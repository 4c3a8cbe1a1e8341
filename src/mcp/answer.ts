/**
 * The shape of every MCP tool result: plain text (redacted) plus structured content. Errors
 * become answers in words: a dead grant names its cause, who was asked and what still works.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ReauthRequiredError, TokenwardenError, TransientError } from '../core/errors.js';
import { redact } from '../core/logger.js';
import type { AgentConnectionView } from './describe.js';

/** What a tool body returns before it is shaped. */
export type ToolBody = () => Promise<{ text: string; structured: Record<string, unknown>; isError?: boolean }>;

/**
 * Run a tool body and shape its result: plain text (redacted) plus structured content. Errors
 * become answers in words: a dead grant names its cause, who was asked and what still works.
 */
export async function answer(
  fn: ToolBody,
  facts?: (conn: string) => Promise<AgentConnectionView[]>,
): Promise<CallToolResult> {
  // `facts` (optional) turns a ReauthRequiredError into the connection's full status sentence.
  try {
    const r = await fn();
    return {
      content: [{ type: 'text', text: redact(r.text) }],
      structuredContent: r.structured,
      ...(r.isError ? { isError: true } : {}),
    };
  } catch (err) {
    if (err instanceof ReauthRequiredError) {
      const f = facts ? (await facts(err.connection).catch(() => []))[0] : undefined;
      const text = `Not possible right now: ${f ? f.sentence : err.message}`;
      return {
        isError: true,
        content: [{ type: 'text', text: redact(text) }],
        structuredContent: {
          error: { code: err.code, connection: err.connection, cause: err.diagnosis, fallbacks: err.fallbacks },
          ...(f ? { connection: f } : {}),
        },
      };
    }
    if (err instanceof TransientError)
      return {
        isError: true,
        content: [{ type: 'text', text: redact(`Temporarily unavailable: ${err.message}. Try again later.`) }],
        structuredContent: { error: err.toJSON() },
      };
    if (err instanceof TokenwardenError)
      return {
        isError: true,
        content: [{ type: 'text', text: redact(err.message) }],
        structuredContent: { error: err.toJSON() },
      };
    return {
      isError: true,
      content: [
        { type: 'text', text: redact(`Unexpected error: ${err instanceof Error ? err.message : String(err)}`) },
      ],
    };
  }
}
