/**
 * Shape checks for Bot API updates, before the Telegram channel reads them. The Bot API
 * documents the types, but what arrives is JSON from the network (a proxy, a self-hosted Bot
 * API server, a test double): a field of the wrong type must neither crash the poll loop nor
 * reach the paste handler, and an update it cannot read must still be acknowledged.
 *
 * @see https://core.telegram.org/bots/api#update
 * @see https://core.telegram.org/bots/api#message
 */
import type { Message } from 'grammy/types';

export interface ReadUpdate {
  /** The update's id when it is a non-negative integer (what `offset` acknowledges); else null. */
  updateId: number | null;
  /** The `message` of a well-formed message update; null for other kinds or malformed ones. */
  message: Message | null;
  /** Why the update cannot be used, or null (a well-formed update, possibly not a message). */
  malformed: string | null;
}

type Fields = Record<string, unknown>;

const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInteger = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isOptionalString = (v: unknown): boolean => v === undefined || typeof v === 'string';

/** What is wrong with a `message`, for the fields the channel reads; null when usable. */
export function messageProblem(m: unknown): string | null {
  if (!isObject(m)) return 'message is not an object';
  if (!isInteger(m['message_id'])) return 'message.message_id is not an integer';
  const from = m['from'];
  if (from !== undefined && !(isObject(from) && isInteger(from['id']))) return 'message.from.id is not an integer';
  const chat = m['chat'];
  if (!isObject(chat) || !isInteger(chat['id'])) return 'message.chat.id is not an integer';
  if (!isOptionalString(chat['type']) || !isOptionalString(chat['username']))
    return 'message.chat has a field of the wrong type';
  if (!isOptionalString(m['text']) || !isOptionalString(m['caption'])) return 'message.text or caption is not a string';
  for (const key of ['entities', 'caption_entities']) {
    const list = m[key];
    if (list === undefined) continue;
    const ok =
      Array.isArray(list) &&
      list.every(
        (e) =>
          isObject(e) && typeof e['type'] === 'string' && (e['type'] !== 'text_link' || typeof e['url'] === 'string'),
      );
    if (!ok) return `message.${key} is not a list of entities`;
  }
  return null;
}

/** Read one element of a `getUpdates` result. Never throws. */
export function readUpdate(raw: unknown): ReadUpdate {
  if (!isObject(raw)) return { updateId: null, message: null, malformed: 'the update is not an object' };
  const id = raw['update_id'];
  const updateId = isInteger(id) && id >= 0 ? id : null;
  if (updateId === null) return { updateId, message: null, malformed: 'update_id is not a non-negative integer' };
  if (raw['message'] === undefined) return { updateId, message: null, malformed: null }; // another kind of update
  const problem = messageProblem(raw['message']);
  return problem
    ? { updateId, message: null, malformed: problem }
    : { updateId, message: raw['message'] as Message, malformed: null };
}
