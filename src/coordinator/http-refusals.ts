/**
 * Refusals that happen below the routes: Node's HTTP parser (bad framing, bad headers, a bad request line,
 * an overlong head, a timeout), Fastify's router (bad percent-encoding, an overlong path segment), its body
 * parsers, and requests for no route. Left to Fastify, these come back in its own shape, without the
 * security headers, some echoing the path; here every one gets the API's shape ({@link ApiFailure}), a
 * stable code, the security headers, and a fixed message that never repeats what the client sent (which
 * could land in logs, proxies or a page that renders it).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ValidationError } from '../core/validate.ts';
import { ApiFailure } from './api-failure.ts';

/** The headers every response carries (see security-headers.ts), for answers that bypass its onSend hook. */
const SECURITY_HEADERS = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' } as const;

/** What Node's 'clientError' hands over: a parser error carries the chunk it failed in and where. */
export interface ClientFault extends Error {
  code?: string;
  bytesParsed?: number;
  rawPacket?: unknown;
}

/** Socket errors: the peer is gone, so there is nobody to answer. */
const CONNECTION_LOST = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT']);

const BAD_FRAMING = 'the request is not well-formed HTTP/1.1';
const PARSER_FAILURES: Readonly<Record<string, () => ApiFailure>> = {
  ERR_HTTP_REQUEST_TIMEOUT: () => new ApiFailure(408, 'request_timeout', 'the request was not received in time'),
  HPE_HEADER_OVERFLOW: () => new ApiFailure(431, 'headers_too_large', 'the request headers are larger than this coordinator accepts', 'headers'),
  HPE_CHUNK_EXTENSIONS_OVERFLOW: () => new ApiFailure(413, 'body_too_large', 'the chunk extensions are larger than this coordinator accepts', 'body'),
  HPE_INVALID_CONTENT_LENGTH: () => new ApiFailure(400, 'bad_content_length', 'Content-Length must be one non-negative integer', 'content-length'),
  HPE_UNEXPECTED_CONTENT_LENGTH: () => new ApiFailure(400, 'bad_content_length', 'Content-Length must be sent once, and not with Transfer-Encoding', 'content-length'),
  HPE_INVALID_TRANSFER_ENCODING: () => new ApiFailure(400, 'bad_transfer_encoding', 'Transfer-Encoding must end in chunked, be sent once, and not with Content-Length', 'transfer-encoding'),
  HPE_INVALID_CHUNK_SIZE: () => new ApiFailure(400, 'bad_chunk', 'a chunk size is not a hexadecimal number of bytes', 'body'),
  HPE_INVALID_METHOD: () => new ApiFailure(400, 'bad_method', 'the request method is not one HTTP knows', 'method'),
  HPE_INVALID_URL: () => new ApiFailure(400, 'bad_url', 'the request target is not a valid path', 'url'),
  HPE_INVALID_VERSION: () => new ApiFailure(400, 'bad_http_version', 'the request line must end in HTTP/1.1 (or HTTP/1.0) and CRLF'),
  HPE_PAUSED_H2_UPGRADE: () => new ApiFailure(400, 'bad_http_version', 'speak HTTP/1.1 (or HTTP/1.0); HTTP/2 is not spoken here'),
  HPE_INVALID_HEADER_TOKEN: () => new ApiFailure(400, 'bad_header', 'a header has an invalid name or value, or is folded over lines', 'headers'),
  HPE_CLOSED_CONNECTION: () => new ApiFailure(400, 'bad_http_request', 'data was sent after a request that closes the connection'),
};

/**
 * Fastify's `clientErrorHandler`: answers what Node's parser refused, then closes the connection, since
 * the rest of the stream cannot be trusted to be framed. Like Node's own handler, it writes only where no
 * response has begun on the socket, so an answer already under way is never corrupted.
 */
export function clientErrorHandler(err: ClientFault, socket: Socket): void {
  if (!CONNECTION_LOST.has(err.code ?? '') && socket.writable && !responseStarted(socket)) socket.write(rawResponse(clientFailure(err)));
  socket.destroy();
}

/** The refusal for a parser error; a head too long before its first line ends is a URI too long. */
export function clientFailure(err: ClientFault): ApiFailure {
  if (err.code === 'HPE_HEADER_OVERFLOW' && overflowedInRequestLine(err)) return new ApiFailure(414, 'uri_too_long', 'the request URL is longer than this coordinator accepts', 'url');
  return PARSER_FAILURES[err.code ?? '']?.() ?? new ApiFailure(400, 'bad_http_request', BAD_FRAMING);
}

/**
 * Node counts the request line towards its header limit and reports both as HPE_HEADER_OVERFLOW. The chunk
 * the parser failed in tells them apart when it begins with the request line: no line ended before the
 * point of failure. Otherwise (a head split over reads) it stays 431, which is also true.
 */
function overflowedInRequestLine(err: ClientFault): boolean {
  const chunk = err.rawPacket;
  if (!Buffer.isBuffer(chunk) || typeof err.bytesParsed !== 'number') return false;
  if (!/^[A-Z-]+ \//.test(chunk.subarray(0, 32).toString('latin1'))) return false;
  const firstLineEnd = chunk.indexOf(0x0a);
  return firstLineEnd < 0 || firstLineEnd >= err.bytesParsed;
}

/** Node keeps the response being written on the socket as `_httpMessage` (not public API; Node's own handler reads it). */
function responseStarted(socket: Socket): boolean {
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  return inFlight?.headersSent === true;
}

function rawResponse(failure: ApiFailure): string {
  const body = JSON.stringify(failure.toBody());
  const headers = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    Connection: 'close',
    ...SECURITY_HEADERS,
  };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `HTTP/1.1 ${failure.status} ${STATUS_CODES[failure.status] ?? 'Error'}\r\n${head.join('')}\r\n${body}`;
}

/** Node's 'checkExpectation': an Expect other than 100-continue, which Node would refuse with an empty 417. */
export function refuseExpectation(_req: IncomingMessage, res: ServerResponse): void {
  const failure = new ApiFailure(417, 'expectation_failed', 'only "Expect: 100-continue" is understood here', 'expect');
  const body = JSON.stringify(failure.toBody());
  res.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close', ...SECURITY_HEADERS }).end(body);
}

/**
 * Fastify's `frameworkErrors`: the router refused the URL before any route or hook ran, so the security
 * headers are set here. Fastify's default message would quote the URL.
 */
export function frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  void sendFailure(reply.headers(SECURITY_HEADERS), toApiFailure(err));
}

/** The 404 for a URL no route serves; it names neither the method nor the path. */
export function routeNotFound(): ApiFailure {
  return new ApiFailure(404, 'not_found', 'no such route');
}

/**
 * An onRequest hook, after CORS: a request for no route is answered before its body is read, so a large upload to a
 * wrong URL is a 404 rather than a 413 from the not-found route's small body limit. A body the client is
 * still sending is not read to the end: the connection closes instead.
 */
export async function refuseUnroutable(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  // Every OPTIONS request matches @fastify/cors's catch-all route; the preflights it answers never get
  // here (its hook comes first), so an OPTIONS that does is for no route of ours.
  if (!req.is404 && req.method !== 'OPTIONS') return undefined;
  if (!req.raw.complete) reply.header('connection', 'close');
  return sendFailure(reply, routeNotFound());
}

function sendFailure(reply: FastifyReply, failure: ApiFailure): FastifyReply {
  return reply.code(failure.status).type('application/json').send(failure.toBody());
}

/** Fastify's own errors, by code; their messages are not used, as some quote the request. */
const FASTIFY_FAILURES: Readonly<Record<string, () => ApiFailure>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => new ApiFailure(413, 'body_too_large', 'request body is larger than this endpoint accepts', 'body'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new ApiFailure(415, 'unsupported_media_type', 'unsupported content type', 'content-type'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => new ApiFailure(400, 'bad_content_length', 'the body is not as long as its Content-Length says', 'content-length'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new ApiFailure(400, 'invalid_json', 'body is not valid JSON', 'body'),
  FST_ERR_CTP_INVALID_JSON_BODY: () => new ApiFailure(400, 'invalid_json', 'body is not valid JSON', 'body'),
  FST_ERR_BAD_URL: () => new ApiFailure(400, 'bad_url', 'the request path is not validly percent-encoded', 'url'),
  FST_ERR_MAX_PARAM_LENGTH: () => new ApiFailure(414, 'uri_too_long', 'a segment of the request path is longer than this coordinator accepts', 'url'),
  FST_ERR_NOT_FOUND: routeNotFound,
  FST_ERR_VALIDATION: () => new ApiFailure(400, 'invalid_request', 'the request does not match what this endpoint accepts'),
};

/** The API's answer for anything thrown while handling a request. */
export function toApiFailure(err: FastifyError | Error): ApiFailure {
  if (err instanceof ApiFailure) return err;
  if (err instanceof ValidationError) return new ApiFailure(400, 'invalid_request', err.message, err.field);
  const { code, statusCode } = err as Partial<FastifyError>;
  const known = code === undefined ? undefined : FASTIFY_FAILURES[code];
  if (known) return known();
  // Any other 4xx: the body stream failed (the client went away mid-body) or a plugin refused; its message may quote input.
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) return new ApiFailure(statusCode, 'bad_request', STATUS_CODES[statusCode]?.toLowerCase() ?? 'bad request');
  return new ApiFailure(500, 'internal', 'internal error');
}
