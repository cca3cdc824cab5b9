/** The person's training conditions as kept with their settings (the rest is in eligibility.ts, loaded with the round loop). */
export type ConditionName = 'charging' | 'unmetered' | 'idle';
export type TrainingConditions = Partial<Record<ConditionName, boolean>>;

/** The CoveyStore setting the person's choice is kept under. */
export const CONDITIONS_SETTING = 'training-conditions';

/** Reads the stored setting back: an object of booleans. */
export const isTrainingConditions = (v: unknown): v is TrainingConditions => typeof v === 'object' && v !== null && Object.values(v).every((x) => typeof x === 'boolean');
