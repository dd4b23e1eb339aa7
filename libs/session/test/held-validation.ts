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
