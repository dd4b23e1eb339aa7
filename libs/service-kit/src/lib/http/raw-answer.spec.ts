import { rawErrorAnswer } from './raw-answer';

describe('rawErrorAnswer', () => {
  it('writes a JSON error with nosniff and no-store, and closes the connection', () => {
    expect(rawErrorAnswer(404)).toBe(
      'HTTP/1.1 404 Not Found\r\n' +
        'Content-Type: application/json; charset=utf-8\r\n' +
        'Content-Length: 40\r\n' +
        'X-Content-Type-Options: nosniff\r\n' +
        'Cache-Control: no-store\r\n' +
        'Connection: close\r\n\r\n' +
        '{"statusCode":404,"message":"Not Found"}',
    );
  });

  it('takes a message of its own, its length counted in bytes', () => {
    const answer = rawErrorAnswer(502, { message: 'Le service « orders » est indisponible' });
    const [head, body] = answer.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(JSON.parse(body)).toEqual({
      statusCode: 502,
      message: 'Le service « orders » est indisponible',
    });
    expect(head).toContain(`Content-Length: ${Buffer.byteLength(body)}\r\n`);
  });

  it('leaves the body out for HEAD, keeping its length', () => {
    expect(rawErrorAnswer(400, { request: 'HEAD' })).toMatch(
      /^HTTP\/1\.1 400 Bad Request\r\n[^]*Content-Length: 42\r\n[^]*\r\n\r\n$/,
    );
  });

  it('leaves out both body and length for a request of unknown method, ending at the close', () => {
    const answer = rawErrorAnswer(400, { request: 'unknown' });
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[^]*Connection: close\r\n\r\n$/);
    expect(answer).not.toContain('Content-Length');
  });

  it('names the methods served in Allow when given them, before the body', () => {
    const answer = rawErrorAnswer(405, { allow: ['GET', 'HEAD'] });
    expect(answer).toMatch(
      /^HTTP\/1\.1 405 Method Not Allowed\r\n[^]*\r\nAllow: GET, HEAD\r\n\r\n\{/,
    );
    expect(rawErrorAnswer(405)).not.toContain('\r\nAllow:');
  });
});
