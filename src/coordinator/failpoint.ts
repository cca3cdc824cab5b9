/**
 * Failpoints for crash tests: `COVEY_FAILPOINT=<name>` makes the coordinator kill itself with SIGKILL when
 * it reaches that point, so a test can crash it at an exact step of a round, as a power cut would. Unset,
 * they cost one comparison. Names: `update-stored` (an update committed, not yet acknowledged),
 * `aggregating` (a round marked aggregating, its model not yet written), `model-writing` (inside the
 * transaction that writes the new version and closes the round), `model-written` (the new version
 * committed, not yet announced).
 */
export type FailpointName = 'update-stored' | 'aggregating' | 'model-writing' | 'model-written';

const armed = process.env.COVEY_FAILPOINT;

export function failpoint(name: FailpointName): void {
  if (armed === name) process.kill(process.pid, 'SIGKILL');
}
