import { describe, expect, it } from 'vitest';
import { hostPolicy, isOwnHost } from './host-check.ts';

describe('host check', () => {
  it('answers to the loopback names on any port, and to the public origins exactly', () => {
    const policy = hostPolicy(['https://covey.example', 'http://lab.example:8080']);
    for (const host of ['localhost', 'localhost:8080', '127.0.0.1:43121', '[::1]:8080', 'LOCALHOST:80', 'covey.example', 'lab.example:8080']) expect(isOwnHost(host, policy), host).toBe(true);
    for (const host of [undefined, '', 'evil.example', 'evil.example:8080', 'localhost.evil.example', 'covey.example:8443', 'lab.example', '127.0.0.1.nip.io', 'localhost:80:80', '[::1', '127.0.0.2']) {
      expect(isOwnHost(host, policy), String(host)).toBe(false);
    }
  });

  it('answers to the address it listens on, or to every address of the machine when it listens on all', () => {
    expect(isOwnHost('192.0.2.10:8080', hostPolicy([], '192.0.2.10'))).toBe(true);
    expect(isOwnHost('192.0.2.11:8080', hostPolicy([], '192.0.2.10'))).toBe(false);
    // Every machine has a loopback interface, so its address is among them.
    const all = hostPolicy([], '0.0.0.0');
    expect(isOwnHost('127.0.0.1:8080', all)).toBe(true);
    expect(isOwnHost('evil.example', all)).toBe(false);
  });
});
