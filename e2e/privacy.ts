/**
 * What may leave a participant's browser: small JSON (check-ins), update frames whose payload is one
 * model-sized delta in the task's codec, and GETs without data in their URLs. Nothing else, and never an example.
 */
import type { Codec } from '../src/core/codec.ts';
import { f32 } from '../src/core/codecs/f32.ts';
import { decodeUpdateFrame } from '../src/core/update-frame.ts';
import type { RecordedRequest } from './fixtures.ts';

export interface PrivacyReport {
  uploads: { url: string; bytes: number; payloadBytes: number; meta: Record<string, unknown> }[];
  jsonBodies: number;
  gets: number;
}

/** Throws on the first request that could carry examples; returns what was seen. */
export function auditRequests(requests: readonly RecordedRequest[], parameterCount: number, examples: readonly Uint8Array[], codec: Codec = f32): PrivacyReport {
  const report: PrivacyReport = { uploads: [], jsonBodies: 0, gets: 0 };
  for (const r of requests) {
    const where = `${r.method} ${r.url}`;
    if (new URL(r.url).search.length > 64) throw new Error(`${where}: long query string`);
    if (!r.body || r.body.byteLength === 0) {
      if (r.method !== 'GET') throw new Error(`${where}: unexpected method without body`);
      report.gets += 1;
      continue;
    }
    for (const ex of examples) {
      if (containsSlice(r.body, ex)) throw new Error(`${where}: body contains a stored example's pixels`);
    }
    if (r.contentType?.startsWith('application/json')) {
      if (r.body.byteLength > 1024) throw new Error(`${where}: JSON body of ${r.body.byteLength} bytes`);
      report.jsonBodies += 1;
    } else if (r.contentType === 'application/octet-stream' && r.method === 'PUT') {
      const frame = decodeUpdateFrame(new Uint8Array(r.body));
      // It must be one delta of the model's size in the task's codec, and nothing more.
      if (frame.codecId !== codec.id) throw new Error(`${where}: codec id ${frame.codecId}, the task's is ${codec.name}`);
      codec.decode(frame.payload, parameterCount);
      report.uploads.push({ url: r.url, bytes: r.body.byteLength, payloadBytes: frame.payload.byteLength, meta: frame.meta as Record<string, unknown> });
    } else {
      throw new Error(`${where}: unexpected body of type ${r.contentType}`);
    }
  }
  return report;
}

/** Looks for the example's densest 28-byte row (a row of a digit's strokes) in the body. */
function containsSlice(body: Buffer, example: Uint8Array): boolean {
  let best = 0, bestInk = -1;
  for (let row = 0; row + 28 <= example.length; row += 28) {
    const ink = example.subarray(row, row + 28).reduce((n, v) => n + (v > 0 ? 1 : 0), 0);
    if (ink > bestInk) [best, bestInk] = [row, ink];
  }
  return body.indexOf(Buffer.from(example.subarray(best, best + 28))) >= 0;
}
