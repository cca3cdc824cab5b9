// TextEncoder/TextDecoder exist in every runtime core/ runs in (browsers, workers, Node ≥ 11), but live in
// the DOM and Node typings, which core/ must not see. Declare just what core/ uses.
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: Uint8Array): string;
}
// The Web Crypto random source, also global in every runtime core/ runs in (Node ≥ 19 included).
declare const crypto: { getRandomValues<T extends ArrayBufferView>(array: T): T };
