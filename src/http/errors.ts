// One error handler for every route: RaftkvError keeps its code; fastify's own input errors
// map to stable codes; anything else is a bug (500 INTERNAL, logged).
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RaftkvError } from '../errors.js';

const fastifyCodes: Record<string, () => RaftkvError> = {
  FST_ERR_CTP_INVALID_JSON_BODY: () => new RaftkvError('BAD_REQUEST', 'The body is not valid JSON'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new RaftkvError('BAD_REQUEST', 'The body is empty'),
  FST_ERR_CTP_BODY_TOO_LARGE: () => new RaftkvError('BODY_TOO_LARGE'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new RaftkvError('UNSUPPORTED_MEDIA_TYPE'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () =>
    new RaftkvError('BAD_REQUEST', 'Content-Length does not match the body'),
  FST_ERR_VALIDATION: () => new RaftkvError('BAD_REQUEST'),
  FST_ERR_BAD_URL: () => new RaftkvError('BAD_REQUEST', 'The URL is malformed'),
};

export function toRaftkvError(error: FastifyError | Error): RaftkvError {
  if (error instanceof RaftkvError) return error;
  const code = (error as FastifyError).code;
  const mapped = code ? fastifyCodes[code] : undefined;
  if (mapped) {
    const known = mapped();
    return code === 'FST_ERR_VALIDATION' ? new RaftkvError('BAD_REQUEST', error.message) : known;
  }
  if ((error as FastifyError).statusCode === 400) return new RaftkvError('BAD_REQUEST', error.message);
  return new RaftkvError('INTERNAL');
}

/** Answers an error as `{"error": {...}}` with its code's status; anything unexpected is logged. */
export function sendError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  const mapped = toRaftkvError(error);
  if (mapped.code === 'INTERNAL') {
    request.log.error({ err: error, method: request.method, url: request.url }, 'unexpected error');
  }
  if (mapped.status === 503 || mapped.status === 429) reply.header('retry-after', '1');
  return reply.status(mapped.status).send(mapped.toJSON());
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler(sendError);
  app.setNotFoundHandler((request, reply) => {
    const error = new RaftkvError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`);
    return reply.status(error.status).send(error.toJSON());
  });
}
