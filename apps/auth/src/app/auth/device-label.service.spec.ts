import { DeviceLabelService, UNKNOWN_DEVICE } from './device-label.service';

describe('DeviceLabelService', () => {
  const devices = new DeviceLabelService();

  it.each([
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.86 Safari/537.36',
      'Chrome 131 on Windows',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
      'Safari 17 on iOS',
    ],
    [
      'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
      'Firefox 133 on Linux',
    ],
    [
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70',
      'Microsoft Edge 131 on macOS',
    ],
  ])('labels %s as %s', (userAgent, label) => {
    expect(devices.label(userAgent)).toBe(label);
  });

  it.each([undefined, '', '   ', 'curl/8.5.0', 'node', '\u0000\u0001', 'x'.repeat(10_000)])(
    'answers a short fallback, never throws, for %j',
    (userAgent) => {
      const label = devices.label(userAgent);
      expect(label).toBe(UNKNOWN_DEVICE);
    },
  );

  it('keeps only digits of the version: a crafted user agent cannot inject text into the label', () => {
    const label = devices.label(
      'Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131<script>.0 Safari/537.36',
    );
    expect(label).toMatch(/^Chrome( \d+)? on Windows$/);
  });

  it.each([
    ['Visit evil.example to secure your account/1.0 (X11; Linux x86_64)', 'Linux'],
    ['Your account is locked, call +1 555 0100/2.0 (Windows NT 10.0)', 'Windows'],
    ['Security team: password reset required at evil.example/1.0 ', UNKNOWN_DEVICE],
    ['Mozilla/5.0 (compatible; nothing known)', UNKNOWN_DEVICE],
  ])('names only browsers and systems bowser knows, never free text of %j', (userAgent, label) => {
    expect(devices.label(userAgent)).toBe(label);
  });
});
