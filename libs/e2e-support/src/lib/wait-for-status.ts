/**
 * Polls `url` until it answers `status`, e.g. until a freshly started app is healthy.
 * Rejects after `timeoutMs` with the last answer (its status and the start of its body: a
 * health check's says which part is down) or connection error in the message.
 *
 * @example
 * await waitForStatus(`${base}/api/catalog/health`);
 */
export async function waitForStatus(url: string, status = 200, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (response.status === status) return;
      const body = (await response.text()).replace(/\s+/g, ' ').slice(0, 300);
      last = `HTTP ${response.status}${body ? ` ${body}` : ''}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((wait) => setTimeout(wait, 200));
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}
