/**
 * Security headers, set by @fastify/helmet. Every response: no MIME sniffing, no referrer, and helmet's
 * other harmless defaults (no DNS prefetch, origin-keyed agent cluster, no legacy XSS filter or download
 * handling). Pages (HTML) also get a Content-Security-Policy that allows only what the app needs (its own
 * scripts, styles, images and API, its trainer worker, and WebAssembly compilation) and nothing from any
 * other origin, so the app can make no third-party request at all; no framing; and their own browsing
 * context group (COOP).
 *
 * Left out on purpose: HSTS, which belongs to whoever terminates TLS (a reverse proxy) and would pin every
 * subdomain of the operator's; Cross-Origin-Resource-Policy, since the SDK, its trainer and the models are
 * loaded by embedding sites on other origins and CORS (cors.ts) already decides who may read what.
 */
import fastifyHelmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

export const CSP_DIRECTIVES = {
  'default-src': ["'self'"],
  'script-src': ["'self'", "'wasm-unsafe-eval'"],
  'worker-src': ["'self'"],
  'connect-src': ["'self'"],
  'img-src': ["'self'", 'data:', 'blob:'],
  'style-src': ["'self'"],
  'manifest-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'self'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
};

/**
 * Helmet has no Permissions-Policy: it is set here, on pages, by hand. The app asks for none of these
 * powers, so it is refused them, and so is anything injected into it.
 */
const PERMISSIONS_POLICY = 'camera=(), microphone=(), geolocation=(), payment=()';

export async function registerSecurityHeaders(app: FastifyInstance): Promise<void> {
  await app.register(fastifyHelmet, {
    global: true,
    referrerPolicy: { policy: 'no-referrer' },
    // Pages only: set in onSend below, once the content type is known.
    contentSecurityPolicy: false,
    xFrameOptions: false,
    crossOriginOpenerPolicy: false,
    strictTransportSecurity: false,
    crossOriginResourcePolicy: false,
    crossOriginEmbedderPolicy: false,
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    const type = String(reply.getHeader('content-type') ?? '');
    // reply.helmet is made by helmet's onRequest hook, which every routed request passes.
    if (type.startsWith('text/html') && typeof reply.helmet === 'function') {
      await reply.helmet({
        contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
        xFrameOptions: { action: 'deny' },
        crossOriginOpenerPolicy: { policy: 'same-origin' },
      });
      reply.header('permissions-policy', PERMISSIONS_POLICY);
    }
    return payload;
  });
}
