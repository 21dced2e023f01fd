// Commands: what a normal log entry carries, in a versioned msgpack envelope. Decoding checks the
// shape only (each field present and of its type, nothing else); limits and ranges are checked by
// each service's validate(), before proposing and again in apply.
import { Packr } from 'msgpackr';
import { ByteArena } from '../byte-arena.js';
import { RaftkvError } from '../errors.js';
import { unpackThroughView } from '../unpack-view.js';
import { requestIdBytesMax } from './limits.js';

/** Version of the command envelope; a node reads this version and the one before. */
export const commandFormatVersion = 1;

interface CommandEnvelope {
  v: typeof commandFormatVersion;
  /** Set by the node that first took the request (forwarding, idempotent retries). */
  requestId?: string;
}

export interface KvPutCommand extends CommandEnvelope {
  kind: 'kv.put';
  key: string;
  /** Any JSON value. */
  value: unknown;
  /** Compare-and-set: apply only if the key's modRevision is this (0: only if the key is absent). */
  ifRevision?: number;
}

export interface KvDeleteCommand extends CommandEnvelope {
  kind: 'kv.delete';
  key: string;
  ifRevision?: number;
}

export type KvCommand = KvPutCommand | KvDeleteCommand;
export type Command = KvCommand;
export type CommandKind = Command['kind'];

/** A log entry whose bytes are not a command this node knows. Applying it records this error. */
export class MalformedCommandError extends RaftkvError {
  override name = 'MalformedCommandError';

  constructor(message: string) {
    super('BAD_REQUEST', message);
  }
}

const packr = new Packr({ useRecords: false, moreTypes: false });

/** Where encoded commands live until the log has saved its own copy of them (packed-entries.ts). */
const commandArena = new ByteArena();

/** The command's bytes, copied out of msgpackr's shared buffer (see ByteArena). */
export function encodeCommand(command: Command): Uint8Array {
  return commandArena.copy(packr.pack(command));
}

interface FieldShape {
  required: boolean;
  /** What the field must be, for the error message. */
  type: string;
  accepts(value: unknown): boolean;
}

const stringField: FieldShape = {
  required: true,
  type: 'a string',
  accepts: (value) => typeof value === 'string',
};
const anyField: FieldShape = { required: true, type: 'present', accepts: () => true };
const optionalNumberField: FieldShape = {
  required: false,
  type: 'a number',
  accepts: (value) => value === undefined || typeof value === 'number',
};
const optionalStringField: FieldShape = {
  required: false,
  type: 'a string',
  accepts: (value) => value === undefined || typeof value === 'string',
};

const envelopeShape: Record<string, FieldShape> = {
  v: anyField,
  kind: stringField,
  requestId: optionalStringField,
};

const commandShapes: Record<CommandKind, Record<string, FieldShape>> = {
  'kv.put': { ...envelopeShape, key: stringField, value: anyField, ifRevision: optionalNumberField },
  'kv.delete': { ...envelopeShape, key: stringField, ifRevision: optionalNumberField },
};

/** Each kind's fields as a list, made once: decoding walks it for every entry. */
const commandFieldLists = Object.fromEntries(
  Object.entries(commandShapes).map(([kind, shape]) => [kind, Object.entries(shape)]),
) as Record<CommandKind, [string, FieldShape][]>;

function isCommandKind(kind: unknown): kind is CommandKind {
  return typeof kind === 'string' && Object.hasOwn(commandShapes, kind);
}

/** Decodes an entry's bytes; anything that is not a well-shaped command throws MalformedCommandError. */
export function decodeCommand(bytes: Uint8Array): Command {
  let raw: unknown;
  try {
    // An entry's bytes stay in the log: msgpackr must not leave its DataView on them.
    raw = unpackThroughView(packr, bytes);
  } catch {
    // A fixed message, not the library's: apply results must not depend on a dependency's wording.
    throw new MalformedCommandError('undecodable command');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new MalformedCommandError('a command must be a map');
  }
  const fields = raw as Record<string, unknown>;
  if (fields.v !== commandFormatVersion) throw new MalformedCommandError('unknown command format version');
  if (!isCommandKind(fields.kind)) throw new MalformedCommandError('unknown command kind');
  const shape = commandShapes[fields.kind];
  for (const name in fields) {
    if (!Object.hasOwn(shape, name))
      throw new MalformedCommandError(`${fields.kind}: unexpected field ${name}`);
  }
  for (const [name, field] of commandFieldLists[fields.kind]) {
    if (field.required && !Object.hasOwn(fields, name)) {
      throw new MalformedCommandError(`${fields.kind}: missing field ${name}`);
    }
    if (!field.accepts(fields[name]))
      throw new MalformedCommandError(`${fields.kind}: ${name} must be ${field.type}`);
  }
  return fields as unknown as Command;
}

/** Checks what every command carries; each service's validate() calls it. */
export function validateEnvelope(command: Command): void {
  if (command.requestId !== undefined && Buffer.byteLength(command.requestId) > requestIdBytesMax) {
    throw new RaftkvError('INVALID_ARGUMENT', `requestId is longer than ${requestIdBytesMax} bytes`);
  }
}
