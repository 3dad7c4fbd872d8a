import { HttpRequest } from '@azure/functions';
import { clientIp } from '../../../src/http/client-ip';

describe('clientIp', () => {
  it.each([
    [undefined, 'unknown'],
    ['203.0.113.7', '203.0.113.7'],
    ['203.0.113.7:51234', '203.0.113.7'],
    ['10.0.0.1, 203.0.113.7:443', '203.0.113.7'],
    ['spoofed, 198.51.100.2', '198.51.100.2'],
    ['[2001:DB8::1]:443', '2001:db8::1'],
    ['2001:db8::1', '2001:db8::1'],
    ['1.2.3.4, <script>', 'unknown'],
    [' , ', 'unknown'],
  ])('X-Forwarded-For %p → %p (the last entry: the one the platform appended)', (header, expected) => {
    const request = new HttpRequest({
      method: 'GET',
      url: 'http://127.0.0.1/api/x',
      headers: header === undefined ? {} : { 'x-forwarded-for': header },
    });
    expect(clientIp(request)).toBe(expected);
  });
});
