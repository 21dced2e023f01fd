// The simulator's state machine: a map of registers, one per key. A client write or cas is
// one log entry whose data is the JSON of a RegisterCommand; the opId lets the node that
// proposed it recognise its own entry when it applies it.
import { assert } from '../../src/assert.js';

/** A register holds a unique integer written by a client, or null when never written. */
export type RegisterValue = number | null;

export type RegisterCommand =
  | { op: 'write'; key: string; value: number; opId: number }
  | { op: 'cas'; key: string; value: [expected: RegisterValue, next: number]; opId: number };

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export function encodeCommand(command: RegisterCommand): Uint8Array {
  return textEncoder.encode(JSON.stringify(command));
}

export function decodeCommand(data: Uint8Array): RegisterCommand {
  const command = JSON.parse(textDecoder.decode(data)) as RegisterCommand;
  assert(command.op === 'write' || command.op === 'cas', () => `not a register command: ${command.op}`);
  return command;
}

export class Register {
  private readonly values = new Map<string, number>();

  read(key: string): RegisterValue {
    return this.values.get(key) ?? null;
  }

  /** Applies a command; false when a cas found another value than it expected (and changed nothing). */
  apply(command: RegisterCommand): boolean {
    if (command.op === 'write') {
      this.values.set(command.key, command.value);
      return true;
    }
    const [expected, next] = command.value;
    if (this.read(command.key) !== expected) return false;
    this.values.set(command.key, next);
    return true;
  }
}
