/**
 * What may leave a participant's browser: small JSON of a closed shape (enrolment, check-ins), update frames
 * whose metadata is a closed list of aggregate fields and whose payload is one model-sized delta in the
 * task's codec, and GETs without data in their URLs. Nothing else, and never an example in any form.
 *
 * {@link auditTraffic} checks every recorded request (pages, their workers, the service worker) against the
 * examples the person held or downloaded: each example's bytes are looked for, in every body, URL and header,
 * as stored, as floats, as the trainer's inputs, in base64, hex and JSON. The participant fixture runs it on
 * every context when a test ends; {@link auditRequests} adds a test's own model and codec checks.
 */
import type { Codec } from '../src/core/codec.ts';
import { CODEC_IDS } from '../src/core/codecs/index.ts';
import { f32 } from '../src/core/codecs/f32.ts';
import { decodeUpdateFrame } from '../src/core/update-frame.ts';

/** A request a browser context made, as the fixtures record it (e2e/fixtures.ts): what the audit reads. */
export interface RecordedRequest {
  method: string;
  url: string;
  contentType: string | undefined;
  body: Buffer | null;
  /** Every header the browser reported (lower-case names). */
  headers?: Record<string, string>;
  /** Made by a service worker (precaching, a Background Sync delivery), not by a page or its workers. */
  fromServiceWorker?: boolean;
}

/** Features as the app stores them: uint8 intensities for image tasks, float32 for tabular ones. */
export type StoredFeatures = Uint8Array | Float32Array;

export interface PrivacyReport {
  uploads: { url: string; bytes: number; payloadBytes: number; meta: Record<string, unknown> }[];
  jsonBodies: number;
  gets: number;
  /** Requests the service worker made (precaching, Background Sync deliveries). */
  fromServiceWorker: number;
  /** Distinct examples checked, and those with no part informative enough to look for (a blank drawing). */
  examples: number;
  uninformative: number;
  needles: number;
  /** Bytes of bodies, URLs and headers searched. */
  scannedBytes: number;
  ms: number;
}

export interface AuditOptions {
  /**
   * The model an upload to task `taskId` must fit: its payload must then decode in `codec` as exactly
   * `parameterCount` values. Undefined (or no function): only the frame and its metadata are checked.
   */
  model?: (taskId: string) => { parameterCount: number; codec: Codec } | undefined;
  /** Raw text records the person downloaded (a CSV's lines), looked for verbatim too. */
  rows?: readonly string[];
}

/** Throws on the first request that could carry an example or anything but the protocol's fields; returns what was seen. */
export function auditTraffic(requests: readonly RecordedRequest[], examples: readonly StoredFeatures[], options: AuditOptions = {}): PrivacyReport {
  const started = performance.now();
  const index = new NeedleIndex();
  const { distinct, uninformative } = addExampleNeedles(index, examples);
  for (const row of options.rows ?? []) index.add(Buffer.from(row), index.window(`a downloaded record ("${row}")`), 'text');
  const report: PrivacyReport = { uploads: [], jsonBodies: 0, gets: 0, fromServiceWorker: 0, examples: distinct, uninformative, needles: index.size, scannedBytes: 0, ms: 0 };

  for (const r of requests) {
    const where = `${r.method} ${r.url}${r.fromServiceWorker ? ' (from the service worker)' : ''}`;
    const url = new URL(r.url);
    if (r.fromServiceWorker) report.fromServiceWorker += 1;
    // data: and blob: URLs name what the browser holds already: they never leave it.
    const local = url.protocol === 'data:' || url.protocol === 'blob:';
    const scan = (what: string, bytes: Uint8Array | null | undefined) => {
      if (!bytes || bytes.byteLength === 0) return;
      report.scannedBytes += bytes.byteLength;
      const hit = index.find(bytes);
      if (hit) throw new Error(`${where}: its ${what} contains ${hit.label} at byte ${hit.at}`);
    };
    if (!local) {
      scan('URL', Buffer.from(r.url));
      scan('decoded URL', Buffer.from(safeDecode(r.url)));
      for (const [name, value] of Object.entries(r.headers ?? {})) scan(`${name} header`, Buffer.from(value));
    }
    scan('body', r.body);
    if (url.search.length > 64) throw new Error(`${where}: long query string`);

    if (!r.body || r.body.byteLength === 0) {
      if (!['GET', 'HEAD', 'OPTIONS'].includes(r.method)) throw new Error(`${where}: unexpected method without body`);
      report.gets += 1;
      continue;
    }
    const contentType = r.contentType?.split(';')[0]!.trim().toLowerCase();
    const upload = r.method === 'PUT' ? UPLOAD_PATH.exec(url.pathname) : null;
    const masked = r.method === 'PUT' ? MASKED_PATH.exec(url.pathname) : null;
    if (upload && contentType === 'application/octet-stream') {
      report.uploads.push(checkUpload(where, r, decodeURIComponent(upload[1]!), options));
    } else if (masked && contentType === 'application/octet-stream') {
      const model = options.model?.(decodeURIComponent(masked[1]!));
      if (model && r.body.byteLength !== model.parameterCount * 4) throw new Error(`${where}: a masked update of ${r.body.byteLength} bytes, not one word per parameter (${model.parameterCount})`);
    } else if (contentType === 'application/json') {
      checkJson(where, r);
      report.jsonBodies += 1;
    } else {
      throw new Error(`${where}: unexpected body of type ${r.contentType ?? '(none)'} (only JSON to the API and update frames may leave)`);
    }
  }
  report.ms = Math.round(performance.now() - started);
  return report;
}

/** Throws on the first request that could carry examples; also checks each upload against the test's model and codec. */
export function auditRequests(requests: readonly RecordedRequest[], parameterCount: number, examples: readonly StoredFeatures[], codec: Codec = f32): PrivacyReport {
  return auditTraffic(requests, examples, { model: () => ({ parameterCount, codec }) });
}

// ---------------------------------------------------------------------------------------------------------
// What may be sent: a closed list of fields per request kind.

/**
 * A field's type; an object is a closed list of its own fields; `[object]` a list of such objects (secure
 * aggregation's sealed shares). Lists of numbers or strings are never allowed: no list of values leaves.
 */
type Shape = 'string' | 'number' | 'boolean' | readonly [ObjectShape] | ObjectShape;
interface ObjectShape {
  readonly [key: string]: Shape;
}

/** An upload frame's metadata (src/core/update-frame.ts, UpdateMeta): aggregate numbers and names only. */
const UPDATE_META: Shape = {
  clientId: 'string',
  baseVersion: 'number',
  numExamples: 'number',
  loss: 'number',
  accuracy: 'number',
  backend: 'string',
  trainMs: 'number',
  lineage: 'string',
  eval: { accuracy: 'number', loss: 'number', count: 'number', personalAccuracy: 'number' },
  /** Adaptive clipping: whether the update was within the clip bound before clipping. */
  withinClip: 'boolean',
};

const UPLOAD_PATH = /^\/v1\/tasks\/([^/]+)\/rounds\/\d+\/updates\/[^/]+$/;

/** The JSON the client sends (src/client/coordinator-api.ts, client-key.ts), by endpoint: always a POST. */
const JSON_BODIES: readonly { path: RegExp; shape: Shape }[] = [
  { path: /^\/v1\/tasks\/[^/]+\/enrol\/challenge$/, shape: { clientId: 'string' } },
  {
    path: /^\/v1\/tasks\/[^/]+\/enrol$/,
    shape: { clientId: 'string', proof: { publicKey: { kty: 'string', crv: 'string', x: 'string', y: 'string' }, challenge: 'string', signature: 'string' } },
  },
  { path: /^\/v1\/tasks\/[^/]+\/checkin$/, shape: { clientId: 'string', exampleCount: 'number', backend: 'string' } },
  // Secure aggregation (src/core/secagg/protocol.ts): public keys, sealed shares, and the shares that unmask the sum.
  { path: /^\/v1\/tasks\/[^/]+\/rounds\/\d+\/secagg\/keys$/, shape: { clientId: 'string', keys: [{ curve: 'string', encryptionKey: 'string', maskKey: 'string' }] } },
  { path: /^\/v1\/tasks\/[^/]+\/rounds\/\d+\/secagg\/shares$/, shape: { clientId: 'string', boxes: [{ to: 'string', box: 'string' }] } },
  { path: /^\/v1\/tasks\/[^/]+\/rounds\/\d+\/secagg\/unmask$/, shape: { clientId: 'string', selfMaskShares: [{ of: 'string', x: 'number', y: 'string' }], keyShares: [{ of: 'string', x: 'number', y: 'string' }] } },
];

/** A secure round's masked update: 32-bit words, one per parameter, nothing else. */
const MASKED_PATH = /^\/v1\/tasks\/([^/]+)\/rounds\/\d+\/secagg\/masked$/;

/** The longest string a field of the protocol holds (a challenge is at most 512 characters). */
const MAX_STRING = 512;

function checkUpload(where: string, r: RecordedRequest, taskId: string, options: AuditOptions): PrivacyReport['uploads'][number] {
  let frame: ReturnType<typeof decodeUpdateFrame>;
  try {
    frame = decodeUpdateFrame(new Uint8Array(r.body!));
  } catch (e) {
    throw new Error(`${where}: not an update frame: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  checkShape(where, 'metadata', frame.meta, UPDATE_META);
  const model = options.model?.(taskId);
  if (model) {
    // It must be one delta of the model's size in the task's codec, and nothing more.
    if (frame.codecId !== model.codec.id) throw new Error(`${where}: codec id ${frame.codecId}, the task's is ${model.codec.name}`);
    try {
      model.codec.decode(frame.payload, model.parameterCount);
    } catch (e) {
      throw new Error(`${where}: the payload is not one ${model.codec.name} delta of ${model.parameterCount} values: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  } else if (!CODEC_IDS.has(frame.codecId)) {
    throw new Error(`${where}: unknown codec id ${frame.codecId}`);
  }
  return { url: r.url, bytes: r.body!.byteLength, payloadBytes: frame.payload.byteLength, meta: frame.meta as Record<string, unknown> };
}

function checkJson(where: string, r: RecordedRequest): void {
  if (r.body!.byteLength > 1024) throw new Error(`${where}: JSON body of ${r.body!.byteLength} bytes`);
  const path = new URL(r.url).pathname;
  const endpoint = r.method === 'POST' ? JSON_BODIES.find((e) => e.path.test(path)) : undefined;
  if (!endpoint) throw new Error(`${where}: JSON body to an endpoint the client sends none to`);
  let body: unknown;
  try {
    body = JSON.parse(r.body!.toString('utf8'));
  } catch {
    throw new Error(`${where}: body is not JSON`);
  }
  checkShape(where, 'body', body, endpoint.shape);
}

/** Throws unless `value` has only the fields `shape` lists, each of its type (a number may be null: JSON's NaN). */
function checkShape(where: string, path: string, value: unknown, shape: Shape): void {
  if (typeof shape === 'string') {
    const ok = shape === 'number' ? typeof value === 'number' || value === null : typeof value === shape;
    if (!ok) throw new Error(`${where}: ${path} is ${Array.isArray(value) ? 'a list' : typeof value}, not a ${shape}`);
    if (typeof value === 'string' && value.length > MAX_STRING) throw new Error(`${where}: ${path} is a string of ${value.length} characters`);
    return;
  }
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) throw new Error(`${where}: ${path} is not a list`);
    value.forEach((v, i) => checkShape(where, `${path}[${i}]`, v, (shape as readonly [ObjectShape])[0]));
    return;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where}: ${path} is not an object`);
  for (const [key, v] of Object.entries(value)) {
    const field = (shape as ObjectShape)[key];
    if (field === undefined) throw new Error(`${where}: ${path} has the field "${key}", which is not in the closed list (${Object.keys(shape).join(', ')})`);
    checkShape(where, `${path}.${key}`, v, field);
  }
}

function safeDecode(url: string): string {
  try {
    return decodeURIComponent(url);
  } catch {
    return url;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Needles: the forms an example could leave in.
//
// An example is not looked for whole (a crop of it is as much a leak) nor value by value (an update is full
// of small numbers). It is cut into windows of WINDOW_BYTES stored bytes (48 pixels, or 12 floats), and a
// window is a needle only when a model update cannot hold it by chance. The yardstick is the most
// predictable payload, int8 (and the gaps of top-k): pessimistically, a byte of it is 0 with p ≤ 1/2, one of
// ±1…±3 (1, 2, 3, 253, 254, 255) with p ≤ 1/10, any other value with p ≤ 1/50. A window's surprise is
// Σ −log₂ p over its stored bytes, and it must reach MIN_SURPRISE_BITS = 64, with at least 3 distinct
// non-zero values: a test's traffic is under 2²⁷ positions and its needles under 2²⁰, so a false alarm has a
// chance under 2⁻¹⁷. An all-zero window (48 bits, and no non-zero value) never qualifies; one crossing a
// stroke's grey edges does. (Float payloads are far less predictable than this, and JSON or base64 needles
// cannot occur in a binary payload at all.) On the 500 digits of a shard every example has at least 4 such
// windows; a fraud record (13 floats, 52 bytes) is one window, and every record of the sample clients
// qualifies.
//
// Per example, the (at most MAX_WINDOWS) most surprising windows that do not overlap, from candidates every
// sixth of a window; an example with none (a faint drawing) is looked for by the span from its first to its
// last non-zero value, when that qualifies; a blank one is not looked for (counted as uninformative).
//
// Each window becomes needles in every form it could travel in:
// - binary: the stored bytes; the values as float32 little-endian; for pixels also value/255 as float32
//   (what the trainer feeds the model: stored features × the task's scale, 1/255);
// - each binary form in base64 and base64url, at each of the 3 byte alignments it could have in the
//   encoded stream (the characters that also depend on neighbouring bytes dropped), and in lower- and
//   upper-case hex;
// - JSON numbers as JSON.stringify prints them, comma-joined ("0,0,12,255,…"): the stored values (for floats
//   the double repr of the float32 value); for pixels also the float32 of value/255, and the double value/255
//   and value×(1/255) (they differ in the last digit for some values); and a typed array's own JSON, an
//   object (`"130":12,"131":255,…`).

const WINDOW_BYTES = 48;
const MAX_WINDOWS = 4;
const MIN_SURPRISE_BITS = 64;
/** −log₂ p of each byte value under the pessimistic int8 model above. */
const BYTE_BITS = Float64Array.from({ length: 256 }, (_, b) => (b === 0 ? 1 : b <= 3 || b >= 253 ? Math.log2(10) : Math.log2(50)));

function addExampleNeedles(index: NeedleIndex, examples: readonly StoredFeatures[]): { distinct: number; uninformative: number } {
  const seen = new Set<string>();
  let uninformative = 0;
  for (const example of examples) {
    const id = `${example instanceof Float32Array ? 'f' : 'u'}${bytesOf(example).toString('base64')}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const n = seen.size;
    const windows = informativeWindows(example);
    if (windows.length === 0) uninformative += 1;
    for (const [start, end] of windows) addWindowNeedles(index, example, start, end, `example ${n}'s values ${start}–${end - 1}`);
  }
  return { distinct: seen.size, uninformative };
}

const bytesOf = (example: StoredFeatures): Buffer => Buffer.from(example.buffer, example.byteOffset, example.byteLength);

/** The window's surprise in bits (see above), or 0 when it has fewer than 3 distinct non-zero values. */
function surprise(example: StoredFeatures, start: number, end: number): number {
  const values = new Set<number>();
  for (let i = start; i < end && values.size < 3; i++) if (example[i] !== 0) values.add(example[i]!);
  if (values.size < 3) return 0;
  const bytes = bytesOf(example.subarray(start, end));
  let bits = 0;
  for (const b of bytes) bits += BYTE_BITS[b]!;
  return bits;
}

function informativeWindows(example: StoredFeatures): [number, number][] {
  const n = example.length;
  const width = WINDOW_BYTES / example.BYTES_PER_ELEMENT;
  const stride = width / 6;
  if (n <= width + stride) return surprise(example, 0, n) >= MIN_SURPRISE_BITS ? [[0, n]] : [];
  const candidates: { start: number; bits: number }[] = [];
  for (let start = 0; start + width <= n; start += stride) {
    const bits = surprise(example, start, start + width);
    if (bits >= MIN_SURPRISE_BITS) candidates.push({ start, bits });
  }
  candidates.sort((a, b) => b.bits - a.bits || a.start - b.start);
  const chosen: [number, number][] = [];
  for (const c of candidates) {
    if (chosen.length === MAX_WINDOWS) break;
    if (chosen.every(([s, e]) => c.start + width <= s || c.start >= e)) chosen.push([c.start, c.start + width]);
  }
  if (chosen.length > 0) return chosen;
  let first = -1, last = -1;
  for (let i = 0; i < n; i++) {
    if (example[i] === 0) continue;
    if (first < 0) first = i;
    last = i;
  }
  return first >= 0 && surprise(example, first, last + 1) >= MIN_SURPRISE_BITS ? [[first, last + 1]] : [];
}

function addWindowNeedles(index: NeedleIndex, example: StoredFeatures, start: number, end: number, what: string): void {
  const window = index.window(what);
  const values = Array.from(example.subarray(start, end));
  const binary: [string, Buffer][] =
    example instanceof Uint8Array
      ? [
          ['stored bytes', Buffer.from(example.subarray(start, end))],
          ['float32', float32Bytes(values)],
          ['float32 of value/255', float32Bytes(values.map((v) => v / 255))],
        ]
      : [['float32 (stored)', float32Bytes(values)]];
  for (const [form, bytes] of binary) {
    index.add(bytes, window, form);
    const hex = bytes.toString('hex');
    index.add(hex, window, `${form} in hex`);
    index.add(hex.toUpperCase(), window, `${form} in upper-case hex`);
    for (const shift of [0, 1, 2]) {
      const b64 = base64Core(bytes, shift);
      index.add(b64, window, `${form} in base64 (alignment ${shift})`);
      if (/[+/]/.test(b64)) index.add(b64.replace(/\+/g, '-').replace(/\//g, '_'), window, `${form} in base64url (alignment ${shift})`);
    }
  }
  // As JSON.stringify prints an array of them, without its brackets.
  const json = (xs: readonly number[]) => JSON.stringify(xs).slice(1, -1);
  index.add(json(values), window, 'JSON numbers');
  index.add(values.map((v, i) => `"${start + i}":${JSON.stringify(v)}`).join(','), window, "a typed array's JSON");
  if (example instanceof Uint8Array) {
    index.add(json(values.map((v) => Math.fround(v / 255))), window, 'JSON numbers of float32 value/255');
    index.add(json(values.map((v) => v / 255)), window, 'JSON numbers of value/255');
    index.add(json(values.map((v) => v * (1 / 255))), window, 'JSON numbers of value×(1/255)');
  }
}

function float32Bytes(values: readonly number[]): Buffer {
  return Buffer.from(new Float32Array(values).buffer);
}

/**
 * The base64 characters that `bytes` always encode to when they start `shift` bytes (0–2) into a 3-byte group
 * of a longer stream: the leading characters shared with the bytes before, and a trailing one shared with the
 * bytes after, are dropped.
 */
export function base64Core(bytes: Uint8Array, shift: number): string {
  const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64').replace(/=+$/, '');
  const end = (shift + bytes.byteLength) % 3 === 0 ? encoded.length : encoded.length - 1;
  return encoded.slice([0, 2, 3][shift], end);
}

// ---------------------------------------------------------------------------------------------------------
// Finding any of ~10⁵ needles in megabytes of traffic: Buffer.indexOf per needle would be ~10¹¹ byte
// comparisons, so each needle is indexed by a KEY_BYTES-long slice of it (its most varied one, so a run of
// zeros is never a key), and one pass of a rolling hash over a body looks every slice position up in a table
// of the keys' hashes; a needle whose key hash matches is compared in full where it would sit. The needles' bytes lie in
// one growing buffer, described by parallel arrays (10⁵ small objects would cost more to collect than to search).

const KEY_BYTES = 16;
const BASE = 0x01000193;
/** BASE^(KEY_BYTES−1) mod 2³², to take the leaving byte out of the rolling hash. */
const BASE_OUT = (() => {
  let p = 1;
  for (let i = 1; i < KEY_BYTES; i++) p = Math.imul(p, BASE);
  return p;
})();

class NeedleIndex {
  /** A bucket of key hashes (their top 21 bits) → the last needle added to it; `next` chains the others. */
  private readonly heads = new Int32Array(1 << 21).fill(-1);
  private readonly next: number[] = [];
  private readonly hashes: number[] = [];
  private store = Buffer.alloc(1 << 22);
  private used = 0;
  private readonly at: number[] = [];
  private readonly length: number[] = [];
  /** Where each needle's key starts in it. */
  private readonly keyAt: number[] = [];
  private readonly windowOf: number[] = [];
  private readonly formOf: number[] = [];
  private readonly windows: string[] = [];
  private readonly forms: string[] = [];
  private readonly formIds = new Map<string, number>();
  private readonly stamp = new Uint32Array(256);
  private generation = 0;

  get size(): number {
    return this.at.length;
  }

  /** Names what the next needles are (a part of an example); returns its id for {@link add}. */
  window(what: string): number {
    return this.windows.push(what) - 1;
  }

  /** A needle: `content` (bytes, or an ASCII string) is `form` of window `window`. */
  add(content: Uint8Array | string, window: number, form: string): void {
    const length = typeof content === 'string' ? content.length : content.byteLength;
    // Shorter than a key: too short to tell anything (a tabular example of 1–3 features as float32).
    if (length < KEY_BYTES) return;
    if (this.used + length > this.store.byteLength) {
      const grown = Buffer.alloc(Math.max(this.store.byteLength * 2, this.used + length));
      this.store.copy(grown, 0, 0, this.used);
      this.store = grown;
    }
    const at = this.used;
    if (typeof content === 'string') this.store.write(content, at, 'latin1');
    else this.store.set(content, at);
    this.used += length;
    const keyAt = this.mostVariedSlice(at, length);
    const h = hashOf(this.store, at + keyAt);
    let formId = this.formIds.get(form);
    if (formId === undefined) this.formIds.set(form, (formId = this.forms.push(form) - 1));
    const id = this.at.length;
    this.at.push(at);
    this.length.push(length);
    this.keyAt.push(keyAt);
    this.windowOf.push(window);
    this.formOf.push(formId);
    this.hashes.push(h);
    this.next.push(this.heads[h >>> 11]!);
    this.heads[h >>> 11] = id;
  }

  /** What the first needle found in `hay` is, and where it starts. */
  find(hay: Uint8Array): { label: string; at: number } | undefined {
    if (hay.byteLength < KEY_BYTES) return undefined;
    const buf = Buffer.isBuffer(hay) ? hay : Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength);
    const { heads, next, hashes } = this;
    const end = buf.byteLength - KEY_BYTES;
    let h = hashOf(buf, 0);
    for (let i = 0; ; i++) {
      // h is the hash of buf[i, i + KEY_BYTES).
      for (let id = heads[h >>> 11]!; id >= 0; id = next[id]!) {
        if (hashes[id] === h && this.matches(buf, i, id)) {
          return { label: `${this.windows[this.windowOf[id]!]} as ${this.forms[this.formOf[id]!]}`, at: i - this.keyAt[id]! };
        }
      }
      if (i >= end) return undefined;
      h = (Math.imul(h - Math.imul(buf[i]!, BASE_OUT), BASE) + buf[i + KEY_BYTES]!) | 0;
    }
  }

  /** Whether needle `id` lies in `buf` where its key would start at `keyStart`. */
  private matches(buf: Buffer, keyStart: number, id: number): boolean {
    const start = keyStart - this.keyAt[id]!;
    const length = this.length[id]!;
    if (start < 0 || start + length > buf.byteLength) return false;
    const at = this.at[id]!;
    return buf.compare(this.store, at, at + length, start, start + length) === 0;
  }

  /** The key slice with the most distinct bytes among a few spread over the needle at `at`. */
  private mostVariedSlice(at: number, length: number): number {
    const last = length - KEY_BYTES;
    const step = Math.max(1, Math.ceil(last / 8));
    let best = 0, bestDistinct = -1;
    for (let offset = 0; offset <= last; offset += step) {
      const g = ++this.generation;
      let distinct = 0;
      for (let i = at + offset; i < at + offset + KEY_BYTES; i++) {
        const b = this.store[i]!;
        if (this.stamp[b] !== g) {
          this.stamp[b] = g;
          distinct += 1;
        }
      }
      if (distinct > bestDistinct) [best, bestDistinct] = [offset, distinct];
    }
    return best;
  }
}

/** The polynomial hash of the key at `at`, as an int32 (its top 21 bits, unsigned, pick the bucket). */
function hashOf(bytes: Uint8Array, at: number): number {
  let h = 0;
  for (let i = at; i < at + KEY_BYTES; i++) h = (Math.imul(h, BASE) + bytes[i]!) | 0;
  return h;
}
