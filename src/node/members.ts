// Cluster members as given by --members: `id=host:clientPort:peerPort,...`.
import type { NodeId } from '../raft/messages.js';

export interface Member {
  id: NodeId;
  host: string;
  clientPort: number;
  peerPort: number;
}

export class MembersParseError extends Error {
  override name = 'MembersParseError';
}

const portMax = 65_535;

function parsePort(text: string, what: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > portMax)
    throw new MembersParseError(`${what} "${text}" is not a port`);
  return port;
}

export function parseMembers(text: string): Member[] {
  const members = text
    .split(',')
    .filter((part) => part.trim() !== '')
    .map((part) => {
      const match = /^(\d+)=([^:]+):(\d+):(\d+)$/.exec(part.trim());
      if (!match) throw new MembersParseError(`member "${part}" is not id=host:clientPort:peerPort`);
      const id = Number(match[1]);
      if (!Number.isSafeInteger(id) || id < 1)
        throw new MembersParseError(`member id "${match[1]}" must be 1 or more`);
      return {
        id,
        host: match[2]!,
        clientPort: parsePort(match[3]!, 'client port'),
        peerPort: parsePort(match[4]!, 'peer port'),
      };
    });
  if (members.length === 0) throw new MembersParseError('--members lists no member');
  const ids = new Set(members.map((member) => member.id));
  if (ids.size !== members.length) throw new MembersParseError('--members lists an id twice');
  return members;
}

export function formatMembers(members: readonly Member[]): string {
  return members.map((m) => `${m.id}=${m.host}:${m.clientPort}:${m.peerPort}`).join(',');
}

/** `scheme` is https when the cluster runs with --tls-cert (one setting for every member). */
export function clientUrl(member: Member, scheme: 'http' | 'https' = 'http'): string {
  return `${scheme}://${member.host}:${member.clientPort}`;
}

export function peerAddress(member: Member): string {
  return `${member.host}:${member.peerPort}`;
}
