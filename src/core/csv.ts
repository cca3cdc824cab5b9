/**
 * A small RFC 4180 CSV reader: a header row, then records; quoted fields may hold commas, quotes ("") and
 * newlines. Enough for the examples people import, with errors that name the line.
 */
import { ValidationError } from './validate.ts';

export function parseCsv(text: string): { header: string[]; rows: Record<string, string>[] } {
  const records = splitRecords(text.replace(/^\uFEFF/, ''));
  const header = records.shift();
  if (!header || header.every((h) => h.trim() === '')) throw new ValidationError('csv', 'has no header row');
  const names = header.map((h) => h.trim());
  const rows = records
    .map((fields, i) => {
      if (fields.length === 1 && fields[0] === '') return null; // blank line
      if (fields.length !== names.length) throw new ValidationError(`line ${i + 2}`, `has ${fields.length} fields, the header ${names.length}`);
      return Object.fromEntries(names.map((n, k) => [n, fields[k]!]));
    })
    .filter((r): r is Record<string, string> => r !== null);
  return { header: names, rows };
}

function splitRecords(text: string): string[][] {
  const records: string[][] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      fields.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      fields.push(field);
      records.push(fields);
      fields = [];
      field = '';
    } else field += ch;
  }
  if (quoted) throw new ValidationError('csv', 'ends inside a quoted field');
  if (field !== '' || fields.length > 0) {
    fields.push(field);
    records.push(fields);
  }
  return records;
}
