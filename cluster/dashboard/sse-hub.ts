// The dashboard pages connected over server-sent events. Bounded: a limited number of pages,
// and a page that stops reading is dropped once its unsent bytes pass a limit.
import type { ServerResponse } from 'node:http';

export const sseClientsMax = 16;
export const sseBufferedBytesMax = 1024 * 1024;

export class SseHub {
  private readonly clients = new Set<ServerResponse>();

  get size(): number {
    return this.clients.size;
  }

  /** Takes over the response as an event stream; false (and untouched) when the hub is full. */
  add(response: ServerResponse): boolean {
    if (this.clients.size >= sseClientsMax) return false;
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    this.clients.add(response);
    response.on('close', () => this.clients.delete(response));
    return true;
  }

  send(response: ServerResponse, event: string, data: unknown): void {
    this.write(response, frame(event, data));
  }

  broadcast(event: string, data: unknown): void {
    const text = frame(event, data);
    for (const response of this.clients) this.write(response, text);
  }

  close(): void {
    for (const response of this.clients) response.end();
    this.clients.clear();
  }

  private write(response: ServerResponse, text: string): void {
    if (response.writableLength > sseBufferedBytesMax) {
      response.destroy();
      this.clients.delete(response);
      return;
    }
    response.write(text);
  }
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
