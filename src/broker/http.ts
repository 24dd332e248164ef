import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditEvent } from './audit.js';

/** An answer other than success: status, a stable code and a message safe to show the caller. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly audit?: AuditEvent
  ) {
    super(message);
  }
}

/** A cap on concurrent work: callers beyond it wait their turn. */
export function limiter(max: number) {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    // A freed slot passes straight to the next waiter, so no newcomer can slip in between.
    if (running >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

/** Reads a JSON object body of at most maxBytes; anything else is a 400 or 413. */
export async function readJson(
  req: IncomingMessage,
  maxBytes: number
): Promise<Record<string, unknown>> {
  if (Number(req.headers['content-length'] ?? 0) > maxBytes) {
    throw new HttpError(413, 'too_large', `the body is larger than ${maxBytes} bytes`, {
      event: 'denied',
      reason: 'body too large'
    });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      throw new HttpError(413, 'too_large', `the body is larger than ${maxBytes} bytes`, {
        event: 'denied',
        reason: 'body too large'
      });
    }
    chunks.push(chunk as Buffer);
  }
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (body && typeof body === 'object' && !Array.isArray(body))
      return body as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new HttpError(
    400,
    'bad_request',
    'the body must be a JSON object such as {"profile": "app-readonly"}'
  );
}

/** Answers with a JSON body that no cache keeps. */
export function send(res: ServerResponse, status: number, body: unknown): void {
  res
    .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    .end(JSON.stringify(body));
}
