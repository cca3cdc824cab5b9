/**
 * The privacy audit (privacy.ts) itself, mostly without a browser: it must fail on an example leaving in any
 * of the forms it knows, on a field outside the protocol's closed lists, and pass on what the client really
 * sends: enrolment and check-in JSON, and f32/int8/top-k update frames of random deltas, among real examples.
 * Last, in a browser: the audit every participant gets when a test ends catches a page that leaks a digit.
 */
import { test, expect } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { examplesFromCsv } from '../src/client/csv-import.ts';
import { codecFor } from '../src/core/codecs/index.ts';
import { f32 } from '../src/core/codecs/f32.ts';
import { int8 } from '../src/core/codecs/int8.ts';
import { decodeRecords } from '../src/core/example-records.ts';
import { parseInputSpec } from '../src/core/features.ts';
import type { TaskSummary } from '../src/core/protocol.ts';
import { encodeUpdateFrame, frameWithPayload, type UpdateMeta } from '../src/core/update-frame.ts';
import { test as withBrowser, type RecordedRequest } from './fixtures.ts';
import { auditRequests, auditTraffic, type StoredFeatures } from './privacy.ts';

const BASE = 'http://127.0.0.1:8080';
/** The digits CNN's size (models.ts: conv 5×5×8, conv 5×5×16, dense 64, dense 10). */
const PARAMETERS = 20_522;

const digits = decodeRecords(new Uint8Array(readFileSync('.generated/datasets/digits/iid/00.bin')), 784).map((e) => e.pixels);
const fraudTask = (() => {
  const file = JSON.parse(readFileSync('tasks/fraud.json', 'utf8')) as { id: string; name: string; labels: string[]; input: unknown };
  return { id: file.id, name: file.name, labels: file.labels, input: parseInputSpec(file.input) } as TaskSummary;
})();
const fraudCsv = readFileSync('.generated/datasets/fraud/clients/00.csv', 'utf8');
const fraud = examplesFromCsv(fraudCsv, fraudTask).map((e) => e.features as Float32Array);

/**
 * A made-up drawing whose only ink is one stroke of 24 distinct greys at pixels 400–423, so exactly one
 * window of it is looked for (the first of 48 pixels that holds the whole stroke: 376–423), and the form (and
 * base64 alignment) that finds it is known.
 */
const stroke = (() => {
  const pixels = new Uint8Array(784);
  for (let i = 0; i < 24; i++) pixels[400 + i] = 10 + i * 9;
  return pixels;
})();

const META: UpdateMeta & { withinClip: boolean } = {
  clientId: 'c-0123456789abcdef',
  baseVersion: 3,
  numExamples: 425,
  loss: 0.4321,
  accuracy: 0.87,
  backend: 'webgl',
  trainMs: 5123,
  lineage: 'l-0123456789',
  eval: { accuracy: 0.81, loss: 0.6, count: 75, personalAccuracy: 0.84 },
  withinClip: true,
};

const request = (method: string, path: string, body?: Uint8Array | string, contentType?: string): RecordedRequest => ({
  method,
  url: path.startsWith('http') ? path : BASE + path,
  contentType,
  body: body === undefined ? null : Buffer.from(body),
  headers: contentType ? { 'content-type': contentType } : {},
  fromServiceWorker: false,
});
const upload = (frame: Uint8Array) => request('PUT', '/v1/tasks/digits/rounds/4/updates/u-abcdef123456', frame, 'application/octet-stream');
const postJson = (path: string, body: unknown) => request('POST', path, JSON.stringify(body), 'application/json');
const checkin = (backend: string) => postJson('/v1/tasks/digits/checkin', { clientId: META.clientId, exampleCount: 500, backend });

/** Seeded: normal deltas like a round's (σ ≈ 0.003), with a share of exact zeros (dead units). */
function randomDeltas(n: number, seed: number, zeros = 0.3): Float32Array {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Float32Array.from({ length: n }, () => (uniform() < zeros ? 0 : 0.003 * Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform())));
}

/** An f32 frame whose payload is random deltas with `leak` in the middle. */
function frameWith(leak: Uint8Array, meta: object = META): Uint8Array {
  const before = new Uint8Array(randomDeltas(1000, 7).buffer);
  const payload = new Uint8Array(Math.ceil((before.byteLength * 2 + leak.byteLength) / 4) * 4);
  payload.set(before);
  payload.set(leak, before.byteLength);
  payload.set(before, before.byteLength + leak.byteLength);
  return frameWithPayload(f32, meta as UpdateMeta, payload);
}

const bytesOf = (values: ArrayLike<number>, type: 'f32' | 'u8') => new Uint8Array((type === 'f32' ? Float32Array.from(values) : Uint8Array.from(values)).buffer);
/** Base64 of `bytes` after `shift` other bytes: what a longer encoded stream holds. */
const base64After = (shift: number, bytes: Uint8Array) => Buffer.concat([Buffer.alloc(shift, 0xa5), bytes]).toString('base64');

test.describe('the privacy audit', () => {
  test('passes on what the client really sends, among 500 real digits and 740 fraud records', () => {
    const traffic: RecordedRequest[] = [
      request('GET', '/v1/tasks/digits'),
      request('GET', '/datasets/digits/iid/00.bin'),
      request('GET', '/v1/tasks/digits/models/3/weights.bin?lineage=l-0123456789'),
      postJson('/v1/tasks/digits/enrol/challenge', { clientId: META.clientId }),
      postJson('/v1/tasks/digits/enrol', {
        clientId: META.clientId,
        proof: { publicKey: { kty: 'EC', crv: 'P-256', x: 'x'.repeat(43), y: 'y'.repeat(43) }, challenge: 'ch-0123456789', signature: 's'.repeat(86) },
      }),
      checkin('webgl'),
    ];
    for (let round = 0; round < 5; round++) {
      for (const codec of [f32, int8, codecFor('topk:0.01')!]) traffic.push(upload(encodeUpdateFrame(codec, { ...META, baseVersion: round }, randomDeltas(PARAMETERS, round * 31 + codec.id))));
    }
    const examples: StoredFeatures[] = [...digits, ...fraud, stroke];
    const report = auditTraffic(traffic, examples);
    console.log(`audit: ${report.examples} examples (${report.uninformative} uninformative) as ${report.needles} needles; ${(report.scannedBytes / 1e6).toFixed(2)} MB of ${traffic.length} requests searched in ${report.ms} ms`);
    expect(report.uploads).toHaveLength(15);
    expect(report.jsonBodies).toBe(3);
    expect(report.examples).toBe(examples.length);
    // Every real digit and fraud record is looked for.
    expect(report.uninformative).toBe(0);
    // With the model's size and codec: the f32 and int8 frames pass auditRequests.
    const int8Uploads = traffic.filter((r) => r.body && r.body[5] === int8.id);
    expect(auditRequests([...traffic.slice(0, 6), ...int8Uploads], PARAMETERS, digits, int8).uploads).toHaveLength(5);
    expect(() => auditRequests(traffic.filter((r) => r.body && r.body[5] === f32.id), PARAMETERS + 1, digits, f32)).toThrow(/not one f32 delta of 20523 values/);
    expect(() => auditRequests(int8Uploads, PARAMETERS, digits, f32)).toThrow(/codec id 2, the task's is f32/);
  });

  test('finds a drawing in every form: stored, float32, the trainer\'s input, base64 at each alignment, hex, JSON', () => {
    const audit = (r: RecordedRequest) => () => auditTraffic([r], [stroke]);
    const window = /example 1's values 376–423/;
    expect(audit(upload(frameWith(stroke)))).toThrow(/values 376–423 as stored bytes at byte/);
    expect(audit(upload(frameWith(stroke)))).toThrow(window);
    expect(audit(upload(frameWith(bytesOf(stroke, 'f32'))))).toThrow(/as float32 at byte/);
    expect(audit(upload(frameWith(bytesOf(Array.from(stroke, (v) => v / 255), 'f32'))))).toThrow(/as float32 of value\/255 at/);
    // What the trainer computes: stored features × the task's scale.
    expect(audit(upload(frameWith(bytesOf(Array.from(stroke, (v) => v * 0.00392156862745098), 'f32'))))).toThrow(/as float32 of value\/255 at/);
    for (const shift of [0, 1, 2]) {
      // The window starts 376 bytes in: after `shift` bytes more, it sits at (shift + 376) mod 3 in its group.
      const alignment = (shift + 376) % 3;
      const encoded = base64After(shift, stroke);
      expect(audit(checkin(encoded))).toThrow(new RegExp(`as stored bytes in base64 \\(alignment ${alignment}\\)`));
      expect(audit(checkin(encoded.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')))).toThrow(/as stored bytes in base64(url)? \(alignment/);
      expect(audit(checkin(base64After(shift, bytesOf(Array.from(stroke, (v) => v / 255), 'f32'))))).toThrow(/as float32 of value\/255 in base64 \(alignment/);
    }
    expect(audit(checkin(Buffer.from(stroke).toString('hex')))).toThrow(/as stored bytes in hex/);
    expect(audit(checkin(Buffer.from(stroke).toString('hex').toUpperCase()))).toThrow(/as stored bytes in upper-case hex/);
    expect(audit(checkin(Buffer.from(bytesOf(stroke, 'f32')).toString('hex')))).toThrow(/as float32 in hex/);
    expect(audit(postJson('/v1/tasks/digits/checkin', { clientId: META.clientId, pixels: Array.from(stroke) }))).toThrow(/as JSON numbers at/);
    expect(audit(postJson('/v1/tasks/digits/checkin', { clientId: META.clientId, x: Array.from(stroke, (v) => v / 255) }))).toThrow(/as JSON numbers of value\/255/);
    expect(audit(postJson('/v1/tasks/digits/checkin', { clientId: META.clientId, x: Array.from(Float32Array.from(stroke, (v) => v / 255)) }))).toThrow(/as JSON numbers of float32 value\/255/);
    expect(audit(postJson('/v1/tasks/digits/checkin', { clientId: META.clientId, x: stroke }))).toThrow(/as a typed array's JSON/);
    // In the URL or a header as much as in a body.
    expect(audit(request('GET', `/v1/tasks/digits/${Buffer.from(stroke.subarray(370, 430)).toString('hex')}`))).toThrow(/its URL contains/);
    expect(audit(request('GET', `/v1/tasks/digits?d=${encodeURIComponent(JSON.stringify(Array.from(stroke.subarray(376, 424))))}`))).toThrow(/its decoded URL contains .* as JSON numbers/);
    expect(audit({ ...request('GET', '/v1/tasks/digits'), headers: { 'x-covey': Buffer.from(stroke.subarray(376, 424)).toString('base64') } })).toThrow(/its x-covey header contains/);
    // From the service worker, it says so.
    expect(audit({ ...upload(frameWith(stroke)), fromServiceWorker: true })).toThrow(/\(from the service worker\): its body contains/);
  });

  test('finds each real digit and fraud record, raw, as floats, in base64 and as JSON', () => {
    for (const [i, pixels] of digits.slice(0, 40).entries()) {
      const forms = [Buffer.from(pixels), bytesOf(Array.from(pixels, (v) => v / 255), 'f32'), Buffer.from(base64After(i % 3, pixels)), Buffer.from(JSON.stringify(Array.from(pixels)))];
      for (const leak of forms) expect(() => auditTraffic([upload(frameWith(leak))], [pixels])).toThrow(/contains example 1's values/);
    }
    // Only part of a digit: the 20 rows of its 20×20 box (MNIST centres digits in one), as the trainer's floats.
    expect(() => auditTraffic([upload(frameWith(bytesOf(Array.from(digits[3]!.subarray(112, 672), (v) => v / 255), 'f32')))], digits)).toThrow(/as float32 of value\/255/);
    for (const [i, features] of fraud.slice(0, 40).entries()) {
      const forms = [new Uint8Array(features.buffer), Buffer.from(base64After(i % 3, new Uint8Array(features.buffer))), Buffer.from(JSON.stringify({ f: Array.from(features) }))];
      for (const leak of forms) expect(() => auditTraffic([upload(frameWith(leak))], [features])).toThrow(/contains example 1's values 0–12/);
    }
    // A record of the CSV the person downloaded, as it was.
    const line = fraudCsv.split('\n')[5]!;
    expect(() => auditTraffic([checkin(line)], [], { rows: [line] })).toThrow(/contains a downloaded record/);
  });

  test('refuses fields outside the closed lists and bodies of any other kind', () => {
    const audit = (...r: RecordedRequest[]) => () => auditTraffic(r, digits.slice(0, 20));
    const deltas = randomDeltas(PARAMETERS, 1);
    expect(audit(upload(encodeUpdateFrame(f32, META, deltas)))).not.toThrow();
    expect(audit(upload(encodeUpdateFrame(f32, { ...META, pixels: 'none' } as UpdateMeta, deltas)))).toThrow(/metadata has the field "pixels", which is not in the closed list/);
    expect(audit(upload(encodeUpdateFrame(f32, { ...META, eval: { ...META.eval!, labels: 3 } } as UpdateMeta, deltas)))).toThrow(/metadata\.eval has the field "labels"/);
    expect(audit(upload(encodeUpdateFrame(f32, { ...META, loss: [0.1, 0.2] } as unknown as UpdateMeta, deltas)))).toThrow(/metadata\.loss is a list, not a number/);
    expect(audit(upload(encodeUpdateFrame(f32, { ...META, withinClip: 'yes' } as unknown as UpdateMeta, deltas)))).toThrow(/metadata\.withinClip is string, not a boolean/);
    expect(audit(upload(new Uint8Array(64)))).toThrow(/not an update frame/);
    expect(audit(postJson('/v1/tasks/digits/checkin', { clientId: 'c-1', exampleCount: 3, labels: { 7: 2 } }))).toThrow(/body has the field "labels"/);
    expect(audit(postJson('/v1/tasks/digits/enrol', { clientId: 'c-1', proof: { publicKey: { kty: 'EC', d: 'private' } } }))).toThrow(/body\.proof\.publicKey has the field "d"/);
    expect(audit(postJson('/v1/tasks/digits/feedback', { clientId: 'c-1' }))).toThrow(/JSON body to an endpoint the client sends none to/);
    expect(audit(request('POST', '/v1/tasks/digits/checkin', 'clientId=c-1', 'application/x-www-form-urlencoded'))).toThrow(/unexpected body of type/);
    expect(audit(request('PUT', '/v1/tasks/digits/examples/1', new Uint8Array(8), 'application/octet-stream'))).toThrow(/unexpected body of type/);
    expect(audit(request('POST', '/v1/tasks/digits/checkin'))).toThrow(/unexpected method without body/);
    expect(audit(request('GET', `/v1/tasks/digits?${'q'.repeat(70)}`))).toThrow(/long query string/);
  });
});

withBrowser('the audit at the end of every test catches a page that sends a digit, even one the person deleted', async ({ participant, coordinator }) => {
  // The coordinator refuses the check-in below (400), and the browser says so.
  const p = await participant({ expectedConsoleErrors: /status of 40\d/ });
  await p.app.open(coordinator.url, '?shard=1');
  await p.app.loadSampleData();
  await p.app.deleteAllExamples();
  // Nothing is left in IndexedDB: the digits looked for are those of the shard the browser downloaded.
  expect((await p.audit()).examples).toBe(500);
  const shard = p.requests.find((r) => /\/datasets\/digits\/iid\/\d+\.bin$/.test(r.url))!.url;
  await p.page.evaluate(async (shard) => {
    const digit = new Uint8Array(await (await fetch(shard)).arrayBuffer()).subarray(17 * 785 + 1, 18 * 785);
    const body = JSON.stringify({ clientId: 'c-leaky-page', exampleCount: 1, backend: btoa(String.fromCharCode(...digit)) });
    await fetch('/v1/tasks/digits/checkin', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  }, shard);
  await expect(p.audit()).rejects.toThrow(/^POST \S+\/v1\/tasks\/digits\/checkin: its body contains example \d+'s values \d+–\d+ as stored bytes in base64 \(alignment \d\)/);
  // The leak was this test's own doing: taken out, the audit when the test ends passes.
  p.requests.splice(p.requests.findIndex((r) => r.url.endsWith('/checkin')), 1);
});
