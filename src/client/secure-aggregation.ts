/**
 * A browser's part in a secure aggregation round (core/secagg/protocol.ts) over the coordinator's HTTP API:
 * keys, then shares, then the masked update, then the shares that unmask the sum. Each step after the first
 * waits until the coordinator has closed the phase before it (it answers `409 secagg_wrong_phase` until
 * then); a round that aborted or closed meanwhile ends the wait with an error. Online only: the secrets of a
 * round live in this page's memory, so a closed tab is a client that dropped out, which the protocol
 * survives. What left the device is recorded like an upload: the masked vector's bytes (the rest are keys
 * and sealed shares, a few hundred bytes a neighbour).
 */
import { SecAggClient } from '../core/secagg/client.ts';
import { parseInbox, parseRoster, parseSecAggParams, type SecAggParams } from '../core/secagg/protocol.ts';
import type { CoordinatorApi } from './coordinator-api.ts';
import { sleep } from './retry-policy.ts';

export type SecureApi = Pick<CoordinatorApi, 'secureStep'>;

export interface SecureOutcome {
  /** Bytes of the masked input sent. */
  bytes: number;
  /** Clients whose masked inputs the sum has. */
  survivors: number;
}

const POLL_MS = 500;

export async function runSecureRound(api: SecureApi, params: SecAggParams, clientId: string, update: Float32Array, signal: AbortSignal, say: (message: string) => void): Promise<SecureOutcome> {
  const client = new SecAggClient(parseSecAggParams(params), clientId);
  const { taskId, roundId } = params;
  const step = (path: string, init: { method: string; body?: unknown }) => api.secureStep(taskId, roundId, path, { ...init, signal });
  /** Polls a step until the phase before it has closed (the coordinator answers 202 `pending` until then). */
  const when = async (path: string): Promise<unknown> => {
    for (;;) {
      const answer = (await step(path, { method: 'GET' })) as { pending?: boolean; phase?: string; aborted?: string } | null;
      if (!answer || answer.pending !== true) return answer;
      if (answer.phase === 'aborted') throw new Error(`the secure round aborted: ${answer.aborted ?? 'too few clients'}`);
      if (answer.phase === 'done' || answer.phase === 'closed') throw new Error(`the secure round ended without this client${answer.aborted ? `: ${answer.aborted}` : ''}`);
      await sleep(POLL_MS, signal);
    }
  };
  say('Secure aggregation: sending this round’s public keys');
  await step('keys', { method: 'POST', body: await client.keys() });
  say('Secure aggregation: waiting for the others’ keys');
  const roster = parseRoster(await when('roster'));
  await step('shares', { method: 'POST', body: await client.shares(roster) });
  say(`Secure aggregation: key shares sealed for ${roster.neighbours[clientId]?.length ?? 0} others; waiting for theirs`);
  const inbox = parseInbox(await when('inbox'));
  const masked = await client.maskedInput(inbox, update);
  await step('masked', { method: 'PUT', body: masked });
  say('Secure aggregation: masked update sent; waiting for the survivors');
  const survivors = (await when('survivors')) as string[];
  if (!Array.isArray(survivors) || survivors.some((s) => typeof s !== 'string')) throw new Error('the coordinator sent no list of survivors');
  await step('unmask', { method: 'POST', body: client.unmask(survivors) });
  say(`Secure aggregation: shares sent to unmask the sum of ${survivors.length} updates`);
  return { bytes: masked.byteLength, survivors: survivors.length };
}
