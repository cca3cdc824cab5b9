/** Bytes as base64 and back: for the examples file and the client key's signatures. */
import { ValidationError } from '../core/validate.ts';

/** Bytes as base64, in chunks (a spread of a whole large array would overflow the call stack). */
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Base64 text as bytes; a ValidationError naming `field` when it is not base64. */
export function fromBase64(text: string, field: string): Uint8Array {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw new ValidationError(field, 'is not base64');
  }
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
