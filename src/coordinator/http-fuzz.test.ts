/**
 * HTTP-level fuzz: malformed requests below what fetch can send, written as raw bytes on a socket (broken
 * chunking, conflicting framing headers, folded or invalid headers, bad request lines, overlong URLs and
 * headers, bad percent-encoding, unknown routes with large bodies). Seeded, so a failure reproduces. Each
 * answer must be one response in the API's error shape with the security headers, must not echo the random
 * marker the request carried, and the federation must be as it was afterwards.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../core/rng.ts';
import { ValidationError } from '../core/validate.ts';
import { ApiFailure } from './api-failure.ts';
import type { Coordinator } from './coordinator.ts';
import { clientErrorHandler, clientFailure, toApiFailure, type ClientFault } from './http-refusals.ts';
import { startTestCoordinator } from './test-fixtures.ts';

let c: Coordinator;
let base: string;
let port: number;
const rng = createRng(20260507);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
const int = (max: number) => Math.floor(rng() * max);

beforeAll(async () => {
  ({ coordinator: c, base } = await startTestCoordinator());
  port = Number(new URL(base).port);
});
afterAll(() => c.close());

interface Probe {
  kind: string;
  /** The status the refusal must have. */
  status: number;
  bytes: string | Buffer;
}

/** Every probe but the ones about Host itself is a complete request head up to its own headers. */
const HEAD = 'Host: 127.0.0.1\r\nConnection: close\r\n';
const CHECKIN = 'POST /v1/tasks/tiny/checkin HTTP/1.1';
const chunked = (m: string, chunks: string) => `${CHECKIN}\r\n${HEAD}X-Trace: ${m}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}`;
const withLength = (m: string, framing: string) => `${CHECKIN}\r\n${HEAD}X-Trace: ${m}\r\nContent-Type: application/json\r\n${framing}\r\n{}`;
const getWith = (m: string, header: string) => `GET /v1/tasks/tiny?t=${m} HTTP/1.1\r\n${HEAD}${header}\r\n\r\n`;
const line = (requestLine: string) => `${requestLine}\r\n${HEAD}\r\n`;
const ctl = () => String.fromCharCode(pick([0, 1, 2, 8, 0x0b, 0x0c, 0x0e, 0x1b, 0x1f, 0x7f]));

/** One malformed request of each kind, given the marker it must not see echoed; fresh random details each call. */
const families: ((m: string) => Probe)[] = [
  // Message framing: chunked bodies.
  (m) => ({ kind: 'bad chunk size', status: 400, bytes: chunked(m, `${pick(['zz', 'g', '-2', '0x2', '2.0', `${m}`])}\r\n{}\r\n0\r\n\r\n`) }),
  (m) => ({ kind: 'chunk size overflow', status: 400, bytes: chunked(m, `${'F'.repeat(17 + int(20))}\r\n{}\r\n0\r\n\r\n`) }),
  (m) => ({ kind: 'bad chunk extension', status: 400, bytes: chunked(m, `2;${m}${ctl()}\r\n{}\r\n0\r\n\r\n`) }),
  (m) => ({ kind: 'chunk data without CRLF', status: 400, bytes: chunked(m, `2\r\n{}${pick(['XX', 'X\r\n', '\n\n'])}0\r\n\r\n`) }),
  (m) => ({ kind: 'chunk extensions too large', status: 413, bytes: chunked(m, `2;${m}=${'e'.repeat(17_000 + int(8_000))}\r\n{}\r\n0\r\n\r\n`) }),
  // Message framing: Content-Length and Transfer-Encoding.
  (m) => ({ kind: 'Content-Length with Transfer-Encoding', status: 400, bytes: withLength(m, `Content-Length: ${pick([0, 2, 7])}\r\nTransfer-Encoding: chunked\r\n`) }),
  (m) => ({ kind: 'conflicting Content-Length', status: 400, bytes: withLength(m, `Content-Length: 2\r\nContent-Length: ${3 + int(100)}\r\n`) }),
  (m) => ({ kind: 'repeated Content-Length', status: 400, bytes: withLength(m, 'Content-Length: 2\r\nContent-Length: 2\r\n') }),
  (m) => ({ kind: 'non-numeric Content-Length', status: 400, bytes: withLength(m, `Content-Length: ${pick(['2x', 'two', '0x2', '2.0', '2 2', '+2'])}\r\n`) }),
  (m) => ({ kind: 'negative Content-Length', status: 400, bytes: withLength(m, `Content-Length: -${1 + int(9)}\r\n`) }),
  (m) => ({ kind: 'Transfer-Encoding not chunked', status: 400, bytes: withLength(m, `Transfer-Encoding: ${pick(['gzip', 'deflate', 'x-custom'])}\r\n`) }),
  (m) => ({ kind: 'chunked not the last coding', status: 400, bytes: withLength(m, `Transfer-Encoding: chunked, ${pick(['gzip', 'deflate'])}\r\n`) }),
  (m) => ({ kind: 'repeated Transfer-Encoding', status: 400, bytes: chunked(m, '').replace('\r\n\r\n', '\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n') }),
  // Header syntax.
  (m) => ({ kind: 'folded header', status: 400, bytes: getWith(m, `X-Folded: a\r\n${pick([' ', '\t', '   '])}${m}`) }),
  (m) => ({ kind: 'bad header name', status: 400, bytes: getWith(m, `X-${m}${pick(['(', ')', '<', '@', ',', ';', '\\', '"', '/', '[', '?', '=', '{'])}: v`) }),
  (m) => ({ kind: 'space before colon', status: 400, bytes: getWith(m, `X-${m}${pick([' ', '\t'])}: v`) }),
  (m) => ({ kind: 'control byte in header value', status: 400, bytes: getWith(m, `X-Value: ${m}${ctl()}x`) }),
  (m) => ({ kind: 'empty header name', status: 400, bytes: getWith(m, `: ${m}`) }),
  // The request line.
  (m) => ({ kind: 'invalid method', status: 400, bytes: line(`${pick(['G@T', 'get', 'FOO', 'GE T', 'PUTT', 'ZAP'])} /v1/${m} HTTP/1.1`) }),
  (m) => ({ kind: 'bare LF', status: 400, bytes: `GET /v1/${m} HTTP/1.1\n${HEAD.replaceAll('\r\n', '\n')}\n` }),
  (m) => ({ kind: 'bare CR', status: 400, bytes: `GET /v1/${m} HTTP/1.1\r${HEAD}\r\n` }),
  (m) => ({ kind: 'bad HTTP version', status: 400, bytes: line(`GET /v1/${m} ${pick(['HTTP/1.x', 'HTTP/9.9', 'HTTP/1.', 'HTTP/11', 'HTTX/1.1', 'http/1.1'])}`) }),
  (m) => ({ kind: 'HTTP/2 preface', status: 400, bytes: `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n${m}` }),
  (m) => ({ kind: 'request target without slash', status: 400, bytes: line(`GET ${m} HTTP/1.1`) }),
  (m) => ({ kind: 'control byte in path', status: 400, bytes: Buffer.concat([Buffer.from(`GET /v1/${m}`), Buffer.of(pick([0, 9, 0x7f, 0xff, 0x01])), Buffer.from(`x HTTP/1.1\r\n${HEAD}\r\n`)]) }),
  (m) => ({ kind: 'space in path', status: 400, bytes: line(`GET /v1/${m} ${m} HTTP/1.1`) }),
  (m) => ({ kind: 'data after Connection: close', status: 400, bytes: `GET /healthz HTTP/1.1\r\n${HEAD}\r\nGET /v1/${m} HTTP/1.1\r\n\r\n` }),
  (m) => ({ kind: 'pipelined garbage', status: 400, bytes: `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${pick(['G@T', '\x00\x01', '{"a":1}'])} /${m}\r\n\r\n` }),
  // Sizes.
  (m) => ({ kind: 'URL over 16 KiB', status: 414, bytes: line(`GET /v1/${m}/${'u'.repeat(16_500 + int(30_000))} HTTP/1.1`) }),
  (m) => ({ kind: 'oversized header', status: 431, bytes: getWith(m, `X-Big: ${m}${'h'.repeat(16_500 + int(30_000))}`) }),
  (m) => ({ kind: 'too many headers', status: 431, bytes: getWith(m, Array.from({ length: 1_200 + int(1_000) }, (_, i) => `X-${m}-${i}: vvvvvvvv`).join('\r\n')) }),
  // Routing.
  (m) => ({ kind: 'bad percent-encoding', status: 400, bytes: line(`GET ${pick(['/v1/tasks/', '/v1/nope/', '/healthz/', '/v1/tasks/tiny/models/'])}${m}${pick(['%', '%z', '%zz', '%E0%A4%A', '%C0%AF', '%ff', '%D8%00'])} HTTP/1.1`) }),
  (m) => ({
    kind: 'path segment over maxParamLength',
    status: 414,
    bytes: line(`${pick(['GET', 'POST'])} ${pick(['/v1/tasks/{}', '/v1/tasks/{}/history', '/v1/tasks/tiny/models/{}/model.json'])} HTTP/1.1`.replace('{}', `${m}${'p'.repeat(101 + int(1_000))}`)),
  }),
  (m) => ({ kind: 'unknown route', status: 404, bytes: line(`${pick(['GET', 'DELETE', 'PATCH', 'POST'])} ${pick(['/v1/', '/v1/tasks/tiny/', '/.env/', '/admin/'])}${m} HTTP/1.1`) }),
  (m) => ({ kind: 'long unknown route', status: 404, bytes: line(`GET /v1/${m}/${'r'.repeat(200 + int(10_000))} HTTP/1.1`) }),
  (m) => ({ kind: 'encoded NUL in unknown route', status: 404, bytes: line(`GET /v1/nope/${m}%00${pick(['', 'x', '%00'])} HTTP/1.1`) }),
  (m) => ({ kind: 'absolute-form target', status: 400, bytes: line(`${pick(['GET', 'POST'])} http://${pick(['127.0.0.1', 'x', 'evil.example'])}/v1/tasks/tiny?t=${m} HTTP/1.1`) }),
  // Host: only the coordinator's own names (DNS rebinding), and requests without one.
  (m) => ({ kind: 'HTTP/0.9 request line', status: 421, bytes: `GET /v1/${m}\r\n\r\n` }),
  (m) => ({ kind: 'foreign Host', status: 421, bytes: `GET /v1/tasks/tiny?t=${m} HTTP/1.1\r\nHost: ${pick(['evil.example', 'evil.example:8080', 'localhost.evil.example', '127.0.0.1.nip.io', `${m}.example`])}\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n` }),
  (m) => ({ kind: 'no Host', status: 421, bytes: `${pick(['GET /v1/tasks/tiny', 'POST /v1/tasks/tiny/enrol'])}?t=${m} HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n` }),
  (m) => ({ kind: 'unknown Expect', status: 417, bytes: `POST /v1/tasks/tiny/checkin HTTP/1.1\r\n${HEAD}Expect: ${pick(['200-ok', 'x', `${m}`])}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}` }),
  (m) => {
    const length = 65 * 1024 + int(4_000_000);
    const path = pick(['/v1/tasks/tiny/rounds/1/', '/v1/tasks/tiny/', '/v1/', '/uploads/']);
    return { kind: 'unknown route with a large body', status: 404, bytes: `PUT ${path}${m} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\n\r\n${'b'.repeat(int(1_000))}` };
  },
];

interface Answer {
  status: number;
  headers: Map<string, string>;
  body: string;
  /** Whatever came after the first response: must be nothing. */
  rest: string;
  raw: string;
}

/** Sends raw bytes and collects everything until the coordinator closes the connection (or does not, in time). */
function exchange(bytes: string | Buffer, timeoutMs = 3_000): Promise<{ raw: string; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ raw: Buffer.concat(chunks).toString('latin1'), closed });
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => done(true));
    socket.on('close', () => done(true));
    socket.on('error', () => done(true));
  });
}

function parse(raw: string): Answer | null {
  const end = raw.indexOf('\r\n\r\n');
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(raw);
  if (end < 0 || !status) return null;
  const headers = new Map(
    raw
      .slice(0, end)
      .split('\r\n')
      .slice(1)
      .map((h) => [h.slice(0, h.indexOf(':')).toLowerCase(), h.slice(h.indexOf(':') + 1).trim()] as const),
  );
  const length = Number(headers.get('content-length') ?? raw.length - end - 4);
  return { status: Number(status[1]), headers, body: raw.slice(end + 4, end + 4 + length), rest: raw.slice(end + 4 + length), raw };
}

const marker = () => `mk${int(36 ** 6).toString(36)}q`;

describe('HTTP-level fuzz', () => {
  it(`refuses ${families.length} kinds of malformed HTTP in the API's shape, echoing nothing, and nothing changes`, { timeout: 30_000 }, async () => {
    const before = c.tasks.get('tiny')!.federation.summary();
    const kinds = new Set<string>();
    for (let round = 0; round < 3; round++) {
      for (const family of families) {
        const m = marker();
        const probe = family(m);
        const { raw, closed } = await exchange(probe.bytes);
        const answer = parse(raw);
        const where = `${probe.kind}: ${JSON.stringify(String(probe.bytes).slice(0, 120))} → ${JSON.stringify(answer?.raw.slice(0, 400) ?? null)}`;
        expect(answer, where).not.toBeNull();
        expect(answer!.status, where).toBe(probe.status);
        expect(answer!.headers.get('content-type'), where).toMatch(/^application\/json/);
        expect(answer!.headers.get('x-content-type-options'), where).toBe('nosniff');
        expect(answer!.headers.get('referrer-policy'), where).toBe('no-referrer');
        const body = JSON.parse(answer!.body) as { error?: { code?: unknown; message?: unknown } };
        expect(body.error?.code, where).toMatch(/^[a-z_]+$/);
        expect(typeof body.error?.message === 'string' && body.error.message.length > 0, where).toBe(true);
        expect(answer!.raw.includes(m), `${where}: echoes the request`).toBe(false);
        expect(answer!.rest, `${where}: a second response`).toBe('');
        expect(closed, `${where}: the connection stays open`).toBe(true);
        kinds.add(probe.kind);
      }
    }
    expect(kinds.size).toBe(families.length);
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(c.tasks.get('tiny')!.federation.summary()).toEqual(before);
  });
});

/** A socket that records what the handler does with it. */
function fakeSocket(state: { writable?: boolean; inFlight?: { headersSent: boolean } } = {}) {
  const written: string[] = [];
  let destroyed = false;
  const socket = { writable: state.writable ?? true, _httpMessage: state.inFlight ?? null, write: (s: string) => written.push(s), destroy: () => (destroyed = true) };
  return { socket: socket as unknown as Socket, written, destroyed: () => destroyed };
}

const fault = (code: string, more: Partial<ClientFault> = {}): ClientFault => Object.assign(new Error('Parse Error: from the parser'), { code }, more);

describe('clientErrorHandler', () => {
  it('answers a timeout 408 in the API shape with the security headers, and closes', () => {
    const s = fakeSocket();
    clientErrorHandler(fault('ERR_HTTP_REQUEST_TIMEOUT'), s.socket);
    expect(s.written).toHaveLength(1);
    const [head, body] = s.written[0]!.split('\r\n\r\n') as [string, string];
    expect(head).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(head).toContain('\r\nConnection: close');
    expect(head).toContain('\r\nx-content-type-options: nosniff');
    expect(head).toContain(`\r\nContent-Length: ${Buffer.byteLength(body)}`);
    expect(JSON.parse(body)).toEqual({ error: { code: 'request_timeout', message: expect.any(String) } });
    expect(s.destroyed()).toBe(true);
  });

  it('only closes when the peer is gone, the socket cannot be written, or an answer is already under way', () => {
    for (const [err, state] of [
      [fault('ECONNRESET'), {}],
      [fault('EPIPE'), {}],
      [fault('HPE_INVALID_METHOD'), { writable: false }],
      [fault('HPE_INVALID_CHUNK_SIZE'), { inFlight: { headersSent: true } }],
    ] as const) {
      const s = fakeSocket(state);
      clientErrorHandler(err, s.socket);
      expect(s.written, err.code).toEqual([]);
      expect(s.destroyed(), err.code).toBe(true);
    }
    const pending = fakeSocket({ inFlight: { headersSent: false } });
    clientErrorHandler(fault('HPE_INVALID_CHUNK_SIZE'), pending.socket);
    expect(pending.written).toHaveLength(1);
  });

  it('tells a URI too long from headers too large only when the failing chunk shows it', () => {
    const url = Buffer.from(`GET /${'u'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const header = Buffer.from(`GET / HTTP/1.1\r\nX-Big: ${'h'.repeat(20_000)}\r\n\r\n`);
    expect(clientFailure(fault('HPE_HEADER_OVERFLOW', { rawPacket: url, bytesParsed: 16_500 })).status).toBe(414);
    expect(clientFailure(fault('HPE_HEADER_OVERFLOW', { rawPacket: header, bytesParsed: 16_500 })).status).toBe(431);
    expect(clientFailure(fault('HPE_HEADER_OVERFLOW', { rawPacket: url.subarray(8_000), bytesParsed: 8_000 })).status).toBe(431);
    expect(clientFailure(fault('HPE_HEADER_OVERFLOW')).status).toBe(431);
    expect(clientFailure(fault('HPE_SOMETHING_NEW'))).toMatchObject({ status: 400, code: 'bad_http_request' });
  });
});

describe('toApiFailure', () => {
  const fastifyError = (code: string, statusCode: number, message = `'/v1/${'m'.repeat(8)}' quoted`) => Object.assign(new Error(message), { code, statusCode });

  it('gives every body refusal Fastify can raise a stable code and a message that quotes nothing', () => {
    const cases: [string, number, string][] = [
      ['FST_ERR_CTP_BODY_TOO_LARGE', 413, 'body_too_large'],
      ['FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, 'unsupported_media_type'],
      ['FST_ERR_CTP_INVALID_CONTENT_LENGTH', 400, 'bad_content_length'],
      ['FST_ERR_CTP_EMPTY_JSON_BODY', 400, 'invalid_json'],
      ['FST_ERR_CTP_INVALID_JSON_BODY', 400, 'invalid_json'],
      ['FST_ERR_BAD_URL', 400, 'bad_url'],
      ['FST_ERR_MAX_PARAM_LENGTH', 414, 'uri_too_long'],
      ['ECONNRESET', 400, 'bad_request'], // the body stream failed mid-way: Fastify marks it 400
      ['FST_ERR_SOMETHING_NEW', 422, 'bad_request'],
      ['FST_ERR_REP_INVALID_PAYLOAD_TYPE', 500, 'internal'],
    ];
    for (const [code, status, apiCode] of cases) {
      const failure = toApiFailure(fastifyError(code, status));
      expect(failure, code).toMatchObject({ status, code: apiCode });
      expect(failure.message, code).not.toContain('m'.repeat(8));
    }
    expect(toApiFailure(new Error('boom'))).toMatchObject({ status: 500, code: 'internal', message: 'internal error' });
  });

  it('passes ApiFailure and ValidationError through as before', () => {
    const own = new ApiFailure(409, 'conflict', 'taken', 'id');
    expect(toApiFailure(own)).toBe(own);
    expect(toApiFailure(new ValidationError('clientId', 'must be a string'))).toMatchObject({ status: 400, code: 'invalid_request', field: 'clientId' });
  });
});
