import type { SessionService } from '../src';

/**
 * Holds the next `validate` answer of `sessions` until `release`, as a slow Redis reply would:
 * the store has answered, the caller has not heard yet. `reading` resolves once the store has.
 */
export function holdNextValidation(sessions: SessionService): {
  reading: Promise<void>;
  release: () => void;
} {
  const original = sessions.validate.bind(sessions);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let started!: () => void;
  const reading = new Promise<void>((resolve) => (started = resolve));
  const spy = jest.spyOn(sessions, 'validate').mockImplementationOnce(async (token) => {
    const session = await original(token);
    started();
    await gate;
    return session;
  });
  return {
    reading,
    release: () => {
      release();
      spy.mockRestore();
    },
  };
}

/** A validation `holdValidations` holds: the store has answered, its caller has not heard. */
export interface HeldValidation {
  release(): void;
}

/**
 * Holds every `validate` answer of `sessions` from now on, each until its own `release`, so
 * that a test decides in which order they reach their callers, and what happens meanwhile.
 * `held` lists the validations whose store answer is in and that are not released yet, in the
 * order they were read; `stop` releases them all and lets validations through again.
 */
export function holdValidations(sessions: SessionService): {
  held: HeldValidation[];
  stop: () => void;
} {
  const original = sessions.validate.bind(sessions);
  const held: HeldValidation[] = [];
  const spy = jest.spyOn(sessions, 'validate').mockImplementation(async (token) => {
    const session = await original(token);
    await new Promise<void>((resolve) => {
      const validation: HeldValidation = {
        release: () => {
          held.splice(held.indexOf(validation), 1);
          resolve();
        },
      };
      held.push(validation);
    });
    return session;
  });
  return {
    held,
    stop: () => {
      spy.mockRestore();
      for (const validation of [...held]) validation.release();
    },
  };
}
