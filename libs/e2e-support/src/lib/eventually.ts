/**
 * Waits until `check` holds, asking every 25 ms; fails after `timeoutMs`.
 *
 * @example
 * await eventually(async () => (await fetch(url)).status === 200);
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
