// Test support: committed log entries as the node hands them to the state machine.
import type { Entry } from '../raft/messages.js';
import { type Command, encodeCommand } from './commands.js';

/** A command, raw bytes (possibly garbage) in a normal entry, or an entry with no command. */
export type EntryContent = Command | Uint8Array | 'noop' | 'config';

/** Log time grows with the index, as the leader's stamps would. */
export function logEntry(index: number, content: EntryContent): Entry {
  const header = { index, term: 1, stampMs: 1_000 * index };
  if (content === 'noop' || content === 'config')
    return { ...header, type: content, data: new Uint8Array(0) };
  return {
    ...header,
    type: 'normal',
    data: content instanceof Uint8Array ? content : encodeCommand(content),
  };
}

export function logEntries(firstIndex: number, contents: readonly EntryContent[]): Entry[] {
  return contents.map((content, offset) => logEntry(firstIndex + offset, content));
}
