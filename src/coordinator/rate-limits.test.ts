import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type AdmissionLimits } from './admission.ts';
import { toApiFailure } from './http-refusals.ts';
import { registerRateLimits } from './rate-limits.ts';

let app: FastifyInstance | undefined;
afterEach(() => app?.close());

/** The three limits on a bare Fastify app with a clock the test moves, answering as the coordinator does. */
async function limited(limits: Partial<AdmissionLimits>, clock: { now: number }): Promise<FastifyInstance> {
  app = Fastify();
  app.setErrorHandler((err: Error, _req, reply) => {
    const failure = toApiFailure(err);
    if (failure.retryAfterS !== undefined) reply.header('retry-after', failure.retryAfterS);
    return reply.code(failure.status).send(failure.toBody());
  });
  const rate = await registerRateLimits(app, { ...DEFAULT_LIMITS, ...limits }, () => clock.now);
  app.get('/v1/thing', async () => ({ ok: true }));
  app.get('/elsewhere', async () => ({ ok: true }));
  app.post<{ Body: { clientId: string } }>('/v1/checkin', async (req) => {
    await rate.checkin(req, req.body.clientId);
    return { ok: true };
  });
  app.post('/v1/enrol', async (req) => {
    await rate.enrolment(req);
    return { ok: true };
  });
  return app;
}

const code = (res: { json(): unknown }) => (res.json() as { error?: { code: string; field?: string } }).error;

describe('rate limits', () => {
  it('allow an address its burst, then one request per 1/rate seconds, with Retry-After and its budget in headers', async () => {
    const clock = { now: 0 };
    const a = await limited({ ipBurst: 3, ipPerSecond: 2 }, clock);
    const get = (url = '/v1/thing', remoteAddress = '1.2.3.4') => a.inject({ url, remoteAddress });
    const first = [await get(), await get(), await get()];
    expect(first.map((r) => r.statusCode)).toEqual([200, 200, 200]);
    expect(first.map((r) => r.headers['x-ratelimit-remaining'])).toEqual(['2', '1', '0']);
    expect(first[0]!.headers['x-ratelimit-limit']).toBe('3');
    const refused = await get();
    expect(refused.statusCode).toBe(429);
    expect(code(refused)).toMatchObject({ code: 'rate_limited' });
    // Empty: at 2 per second a token comes in 0.5 s, said as 1 s.
    expect(refused.headers['retry-after']).toBe('1');
    expect((await get('/v1/no-such-route')).statusCode).toBe(429); // unrouted API requests count too
    expect((await get('/elsewhere')).statusCode).toBe(200); // only the API is limited
    expect((await get('/v1/thing', '5.6.7.8')).statusCode).toBe(200); // another address has its own bucket
    expect((await get('/v1/thing', '2001:db8:1:2::1')).statusCode).toBe(200);
    clock.now += 500;
    expect((await get()).statusCode).toBe(200);
    expect((await get()).statusCode).toBe(429);
  });

  it('limit check-ins per client id, naming the field', async () => {
    const clock = { now: 0 };
    const a = await limited({ clientBurst: 1, clientPerSecond: 1 }, clock);
    const checkin = (clientId: string) => a.inject({ method: 'POST', url: '/v1/checkin', payload: { clientId } });
    expect((await checkin('client-a')).statusCode).toBe(200);
    const refused = await checkin('client-a');
    expect(refused.statusCode).toBe(429);
    expect(code(refused)).toMatchObject({ code: 'rate_limited', field: 'clientId' });
    expect((await checkin('client-b')).statusCode).toBe(200);
    clock.now += 1000;
    expect((await checkin('client-a')).statusCode).toBe(200);
  });

  it('limit enrolments per address to an hour\'s allowance', async () => {
    const clock = { now: 0 };
    const a = await limited({ enrolmentsPerIpPerHour: 2 }, clock);
    const enrol = (remoteAddress = '1.1.1.1') => a.inject({ method: 'POST', url: '/v1/enrol', remoteAddress });
    expect((await enrol()).statusCode).toBe(200);
    expect((await enrol()).statusCode).toBe(200);
    const refused = await enrol();
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('1800'); // 2 an hour: one every 30 minutes
    expect((await enrol('2.2.2.2')).statusCode).toBe(200);
    clock.now = 1_800_000;
    expect((await enrol()).statusCode).toBe(200);
  });
});
